"""Properties of the sequence rules (bandit.sequence) over random histories: history
attributes, conditions never pass an arm whose clause fails, cadence."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bandit.sequence import (
    OUTCOME_LEVELS,
    Cadence,
    Previous,
    cadence_block,
    condition_exclusions,
    condition_mask,
    condition_problems,
    failed_clause,
    history_attributes,
)

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
hours = st.integers(-30 * 24, 30 * 24).map(lambda h: NOW + timedelta(hours=h))
maybe_hours = st.none() | hours
cases = st.none() | st.sampled_from(["A", "B"])


@st.composite
def previous(draw: st.DrawFn) -> Previous | None:
    if draw(st.booleans()):
        return None
    sent = draw(hours)
    return Previous(
        at=sent,
        channel=draw(st.sampled_from(["email", "sms", "letter"])),
        touch=draw(st.integers(1, 9)),
        case_id=draw(cases),
        opened_at=draw(maybe_hours),
        clicked_at=draw(maybe_hours),
        paid_at=draw(maybe_hours),
    )


@settings(max_examples=300, deadline=None)
@given(previous(), hours, cases)
def test_history_attributes_follow_the_case(
    before: Previous | None, at: datetime, case: str | None
) -> None:
    seen = history_attributes(before, at, case)
    assert seen["last_outcome"] in OUTCOME_LEVELS
    continues = (
        before is not None
        and before.case_id == case
        and (
            case is not None
            or before.paid_at is None
            or before.paid_at > at  # not paid yet at ``at``
            or before.paid_at < before.at  # the pay closed an earlier case
        )
    )
    if not continues:
        assert seen == {
            "touch": 1,
            "last_outcome": "none",
            "days_since_last": None,
            "last_channel": None,
        }
        return
    assert before is not None
    assert seen["touch"] == before.touch + 1 and seen["last_channel"] == before.channel
    days = seen["days_since_last"]
    assert isinstance(days, int) and days >= 0
    assert days == max(0, int((at - before.at).total_seconds() // 86400))
    clicked = before.clicked_at is not None and before.clicked_at <= at
    opened = before.opened_at is not None and before.opened_at <= at
    assert seen["last_outcome"] == ("clicked" if clicked else "opened" if opened else "none")


clauses = st.one_of(
    st.fixed_dictionaries({"touch": st.fixed_dictionaries({"min": st.integers(1, 4)})}),
    st.fixed_dictionaries({"touch": st.fixed_dictionaries({"max": st.integers(1, 4)})}),
    st.fixed_dictionaries(
        {"last_outcome": st.lists(st.sampled_from(OUTCOME_LEVELS), min_size=1, unique=True)}
    ),
    st.fixed_dictionaries(
        {
            "days_since_last": st.fixed_dictionaries(
                {"min": st.integers(0, 5), "max": st.integers(5, 9)}
            )
        }
    ),
    st.fixed_dictionaries(
        {
            "attributes": st.fixed_dictionaries(
                {"risk": st.lists(st.sampled_from(["low", "high"]), min_size=1)}
            )
        }
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.none() | clauses, min_size=1, max_size=5),
    st.lists(
        st.tuples(previous(), hours, st.sampled_from(["low", "high", None])), min_size=1, max_size=6
    ),
)
def test_an_arm_whose_condition_fails_is_never_eligible(
    conditions: list[dict | None], debtors: list[tuple[Previous | None, datetime, str | None]]
) -> None:
    for when in conditions:
        assert when is None or condition_problems(when) == []
    histories = [history_attributes(p, at, None) for p, at, _ in debtors]
    attributes = [{} if risk is None else {"risk": risk} for _, _, risk in debtors]
    mask = condition_mask(conditions, histories, attributes)
    for i, (history, attrs) in enumerate(zip(histories, attributes, strict=True)):
        for k, when in enumerate(conditions):
            if not when:
                assert mask[i, k]
                continue
            ((name, clause),) = when.items()
            value = attrs.get("risk") if name == "attributes" else history.get(name)
            if value is None:
                holds = False  # a clause on an absent attribute fails
            elif isinstance(clause, list):
                holds = value in clause
            elif name == "attributes":
                holds = value in clause["risk"]
            else:
                holds = clause.get("min", -1) <= value <= clause.get("max", 10**9)
            assert bool(mask[i, k]) == holds, (when, history, attrs)
            assert (failed_clause(when, history, attrs) is None) == holds
        keys = [f"t{k}:sms" for k in range(len(conditions))]
        found = condition_exclusions(keys, ["sms"] * len(keys), conditions, history, attrs)
        assert [e.arm for e in found] == [keys[k] for k in np.flatnonzero(~mask[i])]
        for e in found:
            clause = failed_clause(conditions[keys.index(e.arm)], history, attrs)
            assert (e.code, e.channel, e.until) == ("condition", "sms", None)
            assert e.detail == f"{e.arm}: its condition on {clause} does not hold for this debtor"


@settings(max_examples=300, deadline=None)
@given(
    previous(), hours, st.none() | st.sampled_from([0.5, 1, 2, 7]), st.none() | st.integers(1, 5)
)
def test_cadence(
    before: Previous | None, at: datetime, days: float | None, most: int | None
) -> None:
    history = history_attributes(before, at, None)
    block = cadence_block(Cadence(days, most), before, history, at)
    over = most is not None and int(history["touch"] or 1) > most
    soon = days is not None and before is not None and at < before.at + timedelta(days=days)
    assert (block is not None) == (over or soon)
    if block is not None and block[0] == "too_soon":
        assert before is not None and days is not None
        assert block[2] == before.at + timedelta(days=days)
        assert cadence_block(Cadence(days, None), before, history, block[2]) is None
    if block is not None and block[0] == "max_touches":
        assert block[2] is None


def test_condition_problems_name_the_field() -> None:
    assert condition_problems({"touch": {"min": 3, "max": 1}}) == [
        ("touch", "min 3 is greater than max 1")
    ]
    assert [f for f, _ in condition_problems({"x": [1]})] == ["x"]
    assert [f for f, _ in condition_problems({"last_outcome": {"min": 1}})] == ["last_outcome"]
    assert condition_problems({"touch": {"min": 2}, "attributes": {"risk": ["high"]}}) == []


numbers = st.integers(-(10**6), 10**6) | st.floats(allow_nan=True, allow_infinity=True)
bounds = st.fixed_dictionaries({}, optional={"min": numbers, "max": numbers}).filter(bool)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["touch", "days_since_last", "attributes"]), bounds)
def test_a_range_is_accepted_only_with_bounds_its_attribute_can_take(
    name: str, clause: dict[str, float]
) -> None:
    """Bounds are finite; on touch whole numbers from 1; on days_since_last from 0; min <= max
    (anything else is a problem naming the clause)."""
    when = {"attributes": {"dpd": clause}} if name == "attributes" else {name: clause}
    values = list(clause.values())
    good = all(math.isfinite(v) for v in values)
    if good and name == "touch":
        good = all(float(v).is_integer() and v >= 1 for v in values)
    if good and name == "days_since_last":
        good = all(v >= 0 for v in values)
    if good and len(values) == 2:
        good = clause["min"] <= clause["max"]
    problems = condition_problems(when)
    assert (problems == []) == good, (when, problems)
    field = "attributes.dpd" if name == "attributes" else name
    assert all(f == field for f, _ in problems)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=True) | st.text(max_size=3), min_size=1, max_size=4))
def test_allowed_values_are_text_or_finite_numbers(values: list[float | str]) -> None:
    problems = condition_problems({"attributes": {"risk": values}})
    finite = all(not isinstance(v, float) or math.isfinite(v) for v in values)
    assert (problems == []) == finite
