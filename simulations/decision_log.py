"""The decision log (the API's CSV export, PRODUCT.md "Decision log format") as arrays.

Columns: ``decision_id, decided_at (ISO 8601 UTC), campaign, segment, arm, propensity, opened,
clicked, paid (0/1), amount, cost``; extra columns are ignored, and ``reward`` may stand in for
the outcome columns. Rows come back sorted by time. Errors name the file, line and column.
A row whose ``void`` column (version 2 export) is 1 is a decision voided before its send_at:
neither a contact nor a trial, so it is left out (``DecisionLog.voided`` counts them); a blank
``void`` cell, or a log without the column, means not void.

Text a spreadsheet would read as a formula is neutralised in the export as OWASP recommends
(``neutralise``: a quote before a cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR),
only in text columns: numbers such as ``-1.5`` are written as they are. ``read_log`` undoes
it (``restore``) for the text columns it reads, so an exported log replays unchanged.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from bandit.days import fractional_day
from bandit.log_cells import restore
from bandit.stats import FloatArray, IntArray

REQUIRED: tuple[str, ...] = ("decision_id", "decided_at", "segment", "arm", "propensity")
OUTCOME_COLUMNS: tuple[str, ...] = ("opened", "clicked", "paid", "amount", "cost")
MAX_PROBLEMS = 5
BINARY: tuple[str, ...] = ("opened", "clicked", "paid", "void")


def _text(row: Mapping[str, str | None], column: str) -> str:
    """A text column's value: restored when neutralised, else stripped of surrounding spaces."""
    cell = row.get(column) or ""
    restored = restore(cell)
    return restored if restored != cell else cell.strip()


class DecisionLogError(ValueError):
    """A decision log that cannot be replayed; the message says where and why."""


@dataclass(frozen=True)
class DecisionLog:
    """Rows sorted by ``decided_at`` (days since the Unix epoch, (N,)); ``segment`` and ``arm``
    (N,) index ``segments`` and ``arms``; ``propensity`` (N,) in (0, 1]; ``reward`` (N,) the
    objective per decision; ``paid`` (N,) 0/1 when the log has it (else None); ``voided`` the
    number of void rows of the file left out."""

    decided_at: FloatArray
    segment: IntArray
    arm: IntArray
    propensity: FloatArray
    reward: FloatArray
    paid: FloatArray | None
    segments: tuple[str, ...]
    arms: tuple[str, ...]
    source: str = "<log>"
    voided: int = 0

    def __len__(self) -> int:
        return len(self.reward)

    @classmethod
    def from_columns(
        cls,
        decided_at: ArrayLike,
        segment: Sequence[str],
        arm: Sequence[str],
        propensity: ArrayLike,
        reward: ArrayLike,
        paid: ArrayLike | None = None,
        source: str = "<log>",
        voided: int = 0,
    ) -> DecisionLog:
        """Build (and check) a log from columns; ``decided_at`` in days."""
        r = np.asarray(reward, dtype=np.float64).reshape(-1)
        if len(r) == 0:
            raise DecisionLogError(f"{source}: the log has no decisions")
        columns = {
            "decided_at": np.asarray(decided_at, dtype=np.float64).reshape(-1),
            "segment": np.asarray(segment, dtype=str).reshape(-1),
            "arm": np.asarray(arm, dtype=str).reshape(-1),
            "propensity": np.asarray(propensity, dtype=np.float64).reshape(-1),
        }
        for name, values in columns.items():
            if len(values) != len(r):
                raise DecisionLogError(
                    f"{source}: column {name} has {len(values)} rows, not {len(r)}"
                )
        p = np.asarray(propensity, dtype=np.float64)
        bad = np.flatnonzero(~((p > 0) & (p <= 1)))
        if len(bad):
            raise DecisionLogError(
                f"{source}: row {bad[0] + 1}: propensity {p[bad[0]]:g} is outside (0, 1] "
                f"({len(bad)} such rows); a logged propensity is the probability the policy "
                "gave the chosen arm"
            )
        if not np.all(np.isfinite(r)):
            raise DecisionLogError(f"{source}: rewards must be finite numbers")
        order = np.argsort(columns["decided_at"], kind="stable")
        segments, seg_code = np.unique(columns["segment"], return_inverse=True)
        arms, arm_code = np.unique(columns["arm"], return_inverse=True)
        paid_array = None if paid is None else np.asarray(paid, dtype=np.float64)[order]
        return cls(
            decided_at=columns["decided_at"][order],
            segment=seg_code.reshape(-1)[order].astype(np.int64),
            arm=arm_code.reshape(-1)[order].astype(np.int64),
            propensity=p[order],
            reward=r[order],
            paid=paid_array,
            segments=tuple(str(s) for s in segments),
            arms=tuple(str(a) for a in arms),
            source=source,
            voided=voided,
        )


def _days(text: str) -> float:
    stamp = datetime.fromisoformat(text.strip())
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return fractional_day(stamp)


def _number(text: str | None, column: str) -> float:
    try:
        value = float((text or "").strip())
    except ValueError:
        raise ValueError(f"{column} {text!r} is not a number") from None
    if not np.isfinite(value):
        raise ValueError(f"{column} must be a finite number, got {text!r}")
    if column in BINARY and value not in (0.0, 1.0):
        raise ValueError(f"{column} must be 0 or 1, got {text!r}")
    return value


@dataclass(frozen=True)
class _Row:
    segment: str
    arm: str
    decided_at: float
    propensity: float
    values: tuple[float, ...]
    void: bool


def _parse_row(row: Mapping[str, str | None], needs: Sequence[str]) -> _Row:
    for column in ("decision_id", "segment", "arm"):
        if not _text(row, column).strip():
            raise ValueError(f"{column} is empty")
    stamp = (row.get("decided_at") or "").strip()
    try:
        decided_at = _days(stamp)
    except ValueError:
        raise ValueError(f"decided_at {stamp!r} is not an ISO 8601 time") from None
    propensity = _number(row.get("propensity"), "propensity")
    if not 0.0 < propensity <= 1.0:
        raise ValueError(f"propensity {propensity:g} is outside (0, 1]")
    slot = (row.get("slot") or "").strip()  # with send slots, the action is (arm, slot)
    void = (row.get("void") or "").strip()
    return _Row(
        segment=_text(row, "segment"),
        arm=_text(row, "arm") + (f"@{slot}" if slot else ""),
        decided_at=decided_at,
        propensity=propensity,
        values=tuple(_number(row.get(c), c) for c in needs),
        void=bool(void) and _number(void, "void") == 1.0,
    )


def _parse(
    rows: Iterable[Mapping[str, str | None]], source: str, needs: Sequence[str]
) -> list[_Row]:
    """Parse every row; report the first few problems with their line numbers."""
    parsed: list[_Row] = []
    problems: list[str] = []
    for line, row in enumerate(rows, start=2):
        try:
            parsed.append(_parse_row(row, needs))
        except ValueError as exc:
            problems.append(f"{source} line {line}: {exc}")
            if len(problems) >= MAX_PROBLEMS:
                problems.append("(stopped after the first few problems)")
                break
    if problems:
        raise DecisionLogError("\n".join(problems))
    return parsed


def read_log(path: str | Path, objective: str = "pay") -> DecisionLog:
    """Read a decision log CSV. The reward is the ``reward`` column when present, else ``paid``
    (objective ``pay``) or ``amount - cost`` (objective ``net_recovery``)."""
    source = str(path)
    if objective not in ("pay", "net_recovery"):
        raise DecisionLogError(f"objective must be 'pay' or 'net_recovery', got {objective!r}")
    if not Path(path).is_file():
        raise DecisionLogError(f"{source}: no such file")
    with Path(path).open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in (reader.fieldnames or [])]
        if not header:
            raise DecisionLogError(f"{source}: the file is empty (no header row)")
        reader.fieldnames = header
        if "reward" in header:
            needs: tuple[str, ...] = ("reward", "paid") if "paid" in header else ("reward",)
        elif objective == "pay":
            needs = ("paid",)
        else:
            needs = ("paid", "amount", "cost")
        missing = [c for c in (*REQUIRED, *needs) if c not in header]
        if missing:
            raise DecisionLogError(
                f"{source}: missing column(s) {', '.join(missing)}; a decision log needs "
                f"{', '.join(REQUIRED)} and either reward or the outcome columns "
                f"({', '.join(OUTCOME_COLUMNS)})"
            )
        parsed = _parse(reader, source, needs)
    if not parsed:
        raise DecisionLogError(f"{source}: the log has a header but no decisions")
    rows = [r for r in parsed if not r.void]
    if not rows:
        raise DecisionLogError(
            f"{source}: all {len(parsed)} decisions are void (voided before their send_at: "
            "neither a contact nor a trial); nothing to replay"
        )
    values = np.array([r.values for r in rows], dtype=np.float64).reshape(len(rows), len(needs))
    column = {name: values[:, i] for i, name in enumerate(needs)}
    if "reward" in column:
        reward = column["reward"]
    elif objective == "pay":
        reward = column["paid"]
    else:
        reward = column["amount"] - column["cost"]
    return DecisionLog.from_columns(
        decided_at=[r.decided_at for r in rows],
        segment=[r.segment for r in rows],
        arm=[r.arm for r in rows],
        propensity=[r.propensity for r in rows],
        reward=reward,
        paid=column.get("paid"),
        source=source,
        voided=len(parsed) - len(rows),
    )
