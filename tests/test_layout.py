"""The four rooms hold their shape: small modules, imports that point one way, SQL only in the
store, and the shared words (channels, day numbers, naive times made aware) in one place.

Read from the source with ``ast``; nothing is imported or run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
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
PENDING = {
    "api/service/decisions.py": {"day"},
    "api/service/allocations.py": {"day"},
    "api/service/evidence.py": {"day"},
    "api/service/preparation.py": {"naive"},
    "simulations/scenario.py": {"channels"},
    "simulations/generate.py": {"channels"},
    "simulations/decision_log.py": {"day"},
}


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


def channel_lists(path: Path) -> list[int]:
    """Lines where a literal lists every channel (a tuple, list, set or Literal[...])."""
    lines = []
    for node in ast.walk(tree(path)):
        elements = None
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            elements = node.elts
        if elements and all(isinstance(e, ast.Constant) for e in elements):
            values = {e.value for e in elements if isinstance(e, ast.Constant)}
            if values == set(CHANNELS):
                lines.append(node.lineno)
    return lines


def test_the_channels_are_listed_once() -> None:
    found = {
        name(p): lines
        for p in modules(*PACKAGES)
        if (lines := channel_lists(p)) and not pending(p, "channels")
    }
    assert found == {"bandit/channels.py": [8]}


def day_lengths(path: Path) -> list[int]:
    """Lines with the number of seconds in a day: a day number or length made by hand."""
    return [
        node.lineno
        for node in ast.walk(tree(path))
        if isinstance(node, ast.Constant)
        and not isinstance(node.value, bool)
        and node.value in (86_400, 86_400.0)
    ]


def test_day_numbers_come_from_bandit_days() -> None:
    found = {
        name(p): lines
        for p in modules(*PACKAGES)
        if (lines := day_lengths(p)) and not pending(p, "day")
    }
    assert found == {"bandit/days.py": [9]}


def naive_fixes(path: Path) -> list[int]:
    """Lines that give a datetime the UTC zone it lacks (``.replace(tzinfo=...)``)."""
    return [
        node.lineno
        for node in ast.walk(tree(path))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "replace"
        and any(k.arg == "tzinfo" for k in node.keywords)
    ]


def test_naive_times_are_made_aware_in_two_places() -> None:
    """Request bodies (api.schemas.assume_utc) and stored times (models.UtcDateTime); every
    other time in api/ and templates_store/ is aware already."""
    found = {
        name(p): len(lines)
        for p in modules("api", "templates_store")
        if (lines := naive_fixes(p)) and not pending(p, "naive")
    }
    assert found == {"api/schemas/common.py": 1, "templates_store/models.py": 2}
