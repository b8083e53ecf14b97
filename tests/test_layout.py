"""The four rooms hold their shape: small modules, imports that point one way, SQL only in the
store, and the shared words (channels, day numbers, naive times made aware) in one place.

Read from the source with ``ast``; nothing is imported or run.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bandit.channels import CHANNELS

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bandit", "templates_store", "api", "simulations")
MIGRATIONS = ROOT / "templates_store" / "migrations"  # frozen history: left as written
MAX_LINES = 400
# which of our packages each may import (README, "Layout")
MAY_IMPORT = {
    "bandit": set(),
    "templates_store": {"bandit"},
    "simulations": {"bandit"},
    "api": {"bandit", "templates_store", "simulations"},
}
# Still computing a day number by hand, listing the channels or making a naive time aware:
# modules being reworked elsewhere, to switch to bandit.days / bandit.channels /
# api.schemas.assume_utc when they land. Remove an entry once its module is switched.
PENDING: dict[str, set[str]] = {}


def modules(*packages: str) -> Iterator[Path]:
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            if MIGRATIONS not in path.parents:
                yield path


def name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def pending(path: Path, what: str) -> bool:
    return what in PENDING.get(name(path), set())


def test_no_module_is_over_400_lines() -> None:
    lines = {name(p): len(p.read_text(encoding="utf-8").splitlines()) for p in modules(*PACKAGES)}
    assert {m: n for m, n in lines.items() if n > MAX_LINES} == {}


def ours(node: ast.AST) -> set[str]:
    """The packages of ours an import statement names (absolute imports only: we use no other)."""
    if isinstance(node, ast.Import):
        roots = {alias.name.split(".")[0] for alias in node.names}
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
        roots = {node.module.split(".")[0]}
    else:
        return set()
    return roots & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way(package: str) -> None:
    wrong = {
        name(path): sorted(found - {package} - MAY_IMPORT[package])
        for path in modules(package)
        if (found := set().union(*(ours(n) for n in ast.walk(tree(path)))))
        - {package}
        - MAY_IMPORT[package]
    }
    assert wrong == {}


SQL_CALLS = {"get", "exec", "execute", "scalar", "scalars", "query", "add", "delete", "merge"}
DATABASE_HANDLES = {"session", "conn", "connection"}
SQL_IMPORTS_ALLOWED = {"Session", "Engine", "make_url"}  # types and URLs, no statements


def test_only_the_store_runs_sql() -> None:
    """api/ passes sessions to templates_store and builds or runs no statement itself."""
    found = []
    for path in modules("api"):
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in {
                "sqlalchemy",
                "sqlmodel",
            }:
                found += [
                    f"{name(path)}: imports {a.name}"
                    for a in node.names
                    if a.name not in SQL_IMPORTS_ALLOWED
                ]
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SQL_CALLS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in DATABASE_HANDLES
            ):
                found.append(f"{name(path)}:{node.lineno}: {node.func.value.id}.{node.func.attr}")
    assert found == []


def lists_every_channel(node: ast.AST) -> bool:
    """A literal tuple, list or set (or Literal[...]) of exactly the channels."""
    if not isinstance(node, ast.Tuple | ast.List | ast.Set) or not node.elts:
        return False
    values = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
    return set(values) == set(CHANNELS)


def seconds_in_a_day(node: ast.AST) -> bool:
    """The number 86,400: a day number or a day's length made by hand."""
    return (
        isinstance(node, ast.Constant)
        and not isinstance(node.value, bool)
        and node.value in (86_400, 86_400.0)
    )


def makes_aware(node: ast.AST) -> bool:
    """``.replace(tzinfo=...)``: a datetime given the zone it lacks."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "replace"
        and any(k.arg == "tzinfo" for k in node.keywords)
    )


def where(
    hit: Callable[[ast.AST], bool], what: str, packages: tuple[str, ...] = PACKAGES
) -> dict[str, list[int]]:
    """Per module (not pending for ``what``), the lines of the nodes ``hit`` finds."""
    found = {}
    for path in modules(*packages):
        lines = sorted(node.lineno for node in ast.walk(tree(path)) if hit(node))
        if lines and not pending(path, what):
            found[name(path)] = lines
    return found


def test_the_channels_are_listed_once() -> None:
    assert where(lists_every_channel, "channels") == {"bandit/channels.py": [8]}


def test_day_numbers_come_from_bandit_days() -> None:
    assert where(seconds_in_a_day, "day") == {"bandit/days.py": [9]}


def test_naive_times_are_made_aware_in_two_places() -> None:
    """Request bodies (api.schemas.assume_utc) and stored times (models.UtcDateTime); every
    other time in api/ and templates_store/ is aware already."""
    found = where(makes_aware, "naive", ("api", "templates_store"))
    assert {module: len(lines) for module, lines in found.items()} == {
        "api/schemas/common.py": 1,
        "templates_store/models.py": 2,
    }


def test_pending_modules_still_need_it() -> None:
    """An entry of PENDING whose module no longer does what it is excused for goes."""
    checks = {"channels": lists_every_channel, "day": seconds_in_a_day, "naive": makes_aware}
    stale = [
        f"{module}: {what}"
        for module, whats in PENDING.items()
        for what in sorted(whats)
        if not any(checks[what](node) for node in ast.walk(tree(ROOT / module)))
    ]
    assert stale == []
