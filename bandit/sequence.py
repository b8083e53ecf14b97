"""Dunning as a sequence: a debtor's history attributes, template conditions and cadence.

PRODUCT.md "Contact history as context". Pure: the debtor's latest contact comes in (read by
the store with the rest of the history), ``at`` is an argument.

- History attributes: ``touch`` (this contact's number in the debtor's current case),
  ``last_outcome`` (the furthest outcome the previous contact of the case reached before
  ``at``: none, opened, clicked), ``days_since_last`` and ``last_channel`` (absent, None, on
  a case's first contact). A case is the debtor's contacts since their latest attributed
  pay (the case of the latest contact is closed when any of its contacts was paid after it
  and before ``at``), or, when the caller keys cases by ``case_id``, the contacts with that
  case id (cases may interleave: each continues from its own latest contact).
- Conditions: a template's ``when``; every clause must hold, else the arm is ineligible with
  reason ``condition`` naming the clause (``condition_exclusions``: the no-send reasons and
  the audit word it alike). A range's bounds are finite numbers; on ``touch`` whole numbers
  from 1, on ``days_since_last`` from 0 (the values those attributes take).
- Cadence: ``min_days_between`` (reason ``too_soon``, until the previous contact's time plus
  that many days) and ``max_touches`` (reason ``max_touches``; waiting never lifts it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bandit.channels import CHANNELS
from bandit.rules import Exclusion

HISTORY_ATTRIBUTES: tuple[str, ...] = ("touch", "last_outcome", "days_since_last", "last_channel")
OUTCOME_LEVELS: tuple[str, ...] = ("none", "opened", "clicked")
# the numeric history attributes, each with the least value it takes (touch counts from 1;
# days_since_last is a whole number of days, 0 for a contact the same day); the others are text
LEAST: dict[str, int] = {"touch": 1, "days_since_last": 0}
NUMERIC = frozenset(LEAST)
CONDITION = "condition"  # the reason code of a failed condition
_DAY = timedelta(days=1)

History = dict[str, int | str | None]


@dataclass(frozen=True)
class Previous:
    """A debtor's latest contact in the campaign with a case id (at or before the decision's
    time); ``paid_at``: the latest pay attributed to any contact with that case id."""

    at: datetime
    channel: str
    touch: int
    case_id: str | None
    opened_at: datetime | None = None
    clicked_at: datetime | None = None
    paid_at: datetime | None = None


def in_case(previous: Previous | None, at: datetime, case_id: str | None) -> bool:
    """Whether the decision at ``at`` continues ``previous``'s case: the same case id, or,
    without case ids, no pay since ``previous`` (a pay before it closed an earlier case)."""
    if previous is None:
        return False
    if case_id is not None or previous.case_id is not None:
        return previous.case_id == case_id
    paid = previous.paid_at
    return paid is None or paid > at or paid < previous.at


def history_attributes(previous: Previous | None, at: datetime, case_id: str | None) -> History:
    """The history attributes of a decision at ``at`` (see the module's docstring)."""
    if not in_case(previous, at, case_id):
        return {"touch": 1, "last_outcome": "none", "days_since_last": None, "last_channel": None}
    assert previous is not None
    reached = "none"
    if previous.opened_at is not None and previous.opened_at <= at:
        reached = "opened"
    if previous.clicked_at is not None and previous.clicked_at <= at:
        reached = "clicked"
    return {
        "touch": previous.touch + 1,
        "last_outcome": reached,
        "days_since_last": max(0, math.floor((at - previous.at) / _DAY)),
        "last_channel": previous.channel,
    }


# --- conditions --------------------------------------------------------------------------


def condition_problems(when: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, problem) for each malformed clause of a ``when``: an unknown attribute, an
    empty list, a range without bounds, min > max, values of the wrong kind."""
    problems: list[tuple[str, str]] = []
    for name, clause in when.items():
        if name == "attributes":
            if not isinstance(clause, Mapping) or not clause:
                problems.append((name, "must map debtor attribute names to values or a range"))
                continue
            for attribute, inner in clause.items():
                problems += _clause_problems(f"attributes.{attribute}", inner, None)
        elif name in HISTORY_ATTRIBUTES:
            problems += _clause_problems(name, clause, name)
        else:
            known = ", ".join((*HISTORY_ATTRIBUTES, "attributes"))
            problems.append((name, f"is not a history attribute or 'attributes' (use {known})"))
    return problems


def _clause_problems(field: str, clause: Any, history: str | None) -> list[tuple[str, str]]:
    if isinstance(clause, list):
        if not clause:
            return [(field, "lists no allowed values")]
        if history == "last_outcome" and not set(map(str, clause)) <= set(OUTCOME_LEVELS):
            return [(field, f"values must be among {', '.join(OUTCOME_LEVELS)}")]
        if history == "last_channel" and not set(map(str, clause)) <= set(CHANNELS):
            return [(field, f"values must be among {', '.join(CHANNELS)}")]
        if any(isinstance(v, dict | list) for v in clause):
            return [(field, "values must be text or numbers")]
        if any(isinstance(v, float) and not math.isfinite(v) for v in clause):
            return [(field, "values must be text or finite numbers")]
        return []
    if isinstance(clause, Mapping):
        if not clause or set(clause) - {"min", "max"}:
            return [(field, "a range has 'min', 'max' or both, and nothing else")]
        bounds = [clause.get("min"), clause.get("max")]
        if any(b is not None and not _is_number(b) for b in bounds):
            return [(field, "range bounds must be numbers")]
        if any(b is not None and not math.isfinite(b) for b in bounds):
            return [(field, "range bounds must be finite numbers")]
        if history is not None and history not in NUMERIC:
            return [(field, f"{history} is not a number: give a list of values")]
        if history is not None:
            problem = _bounds_problem(history, [b for b in bounds if b is not None])
            if problem is not None:
                return [(field, problem)]
        low, high = bounds
        if low is not None and high is not None and low > high:
            return [(field, f"min {low} is greater than max {high}")]
        return []
    return [(field, "must be a list of allowed values or a {'min', 'max'} range")]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bounds_problem(history: str, bounds: list[float]) -> str | None:
    """Why a range's bounds cannot be values of the numeric history attribute (None: they
    can): ``touch`` is a whole number from 1, ``days_since_last`` a number of days from 0."""
    least = LEAST[history]
    if history == "touch" and any(not float(b).is_integer() or b < least for b in bounds):
        return f"range bounds must be whole numbers from {least}: touch counts a case's contacts"
    if any(b < least for b in bounds):
        return f"range bounds must be at least {least}: {history} counts whole days"
    return None


def _holds(clause: Any, value: Any) -> bool:
    if value is None:
        return False  # a clause on an absent attribute fails
    if isinstance(clause, list):
        return any(value == allowed or str(value) == str(allowed) for allowed in clause)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    low, high = clause.get("min"), clause.get("max")
    return (low is None or number >= low) and (high is None or number <= high)


def failed_clause(
    when: Mapping[str, Any] | None, history: Mapping[str, Any], attributes: Mapping[str, Any]
) -> str | None:
    """The first clause of ``when`` that does not hold for the debtor (None: all hold)."""
    for name, clause in (when or {}).items():
        if name == "attributes":
            for attribute, inner in clause.items():
                if not _holds(inner, attributes.get(attribute)):
                    return f"attributes.{attribute}"
        elif not _holds(clause, history.get(name)):
            return name
    return None


def condition_exclusions(
    keys: Sequence[str],
    channels: Sequence[str],
    conditions: Sequence[Mapping[str, Any] | None],
    history: Mapping[str, Any],
    attributes: Mapping[str, Any],
) -> tuple[Exclusion, ...]:
    """A ``condition`` exclusion, naming the clause that failed, for each arm whose condition
    does not hold for a debtor with ``history`` and ``attributes`` (the no-send reasons and
    the audit both word it here); waiting never lifts it (``until`` None)."""
    found = []
    for key, channel, when in zip(keys, channels, conditions, strict=True):
        clause = failed_clause(when, history, attributes)
        if clause is not None:
            detail = f"{key}: its condition on {clause} does not hold for this debtor"
            found.append(Exclusion(CONDITION, key, channel, detail, None))
    return tuple(found)


def condition_mask(
    conditions: Sequence[Mapping[str, Any] | None],
    histories: Sequence[Mapping[str, Any]],
    attributes: Sequence[Mapping[str, Any]],
) -> NDArray[np.bool_]:
    """(N, K) True where arm k's condition holds for debtor i."""
    mask = np.ones((len(histories), len(conditions)), dtype=np.bool_)
    for k, when in enumerate(conditions):
        if when:
            for i, (h, a) in enumerate(zip(histories, attributes, strict=True)):
                mask[i, k] = failed_clause(when, h, a) is None
    return mask


# --- cadence -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cadence:
    """A campaign's cadence: at least ``min_days_between`` days between a debtor's contacts,
    at most ``max_touches`` contacts in a case (None: no such rule)."""

    min_days_between: float | None = None
    max_touches: int | None = None


def cadence_block(
    cadence: Cadence, previous: Previous | None, history: Mapping[str, Any], at: datetime
) -> tuple[str, str, datetime | None] | None:
    """(code, detail, until) when the cadence forbids any contact at ``at``, else None."""
    touch = history.get("touch")
    if cadence.max_touches is not None and isinstance(touch, int) and touch > cadence.max_touches:
        detail = (
            f"the debtor's case already had {touch - 1} of at most {cadence.max_touches} contacts"
        )
        return ("max_touches", detail, None)
    if cadence.min_days_between is not None and previous is not None:
        until = previous.at + timedelta(days=cadence.min_days_between)
        if at < until:
            detail = (
                f"the previous contact was at {previous.at.isoformat()}; at least "
                f"{cadence.min_days_between:g} days between contacts, next at {until.isoformat()}"
            )
            return ("too_soon", detail, until)
    return None
