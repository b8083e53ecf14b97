"""Settings that could never work are 422s when they are given, on SQLite and PostgreSQL,
each error placed at the setting it is about (``details[].field`` its path, the message
``field: problem`` in the validator's own words): buckets on a text-valued history attribute
or starting above the attribute's least value, a name twice in segment_by, a condition's
range bounds that are not finite or that its attribute cannot take, overlapping send slots,
two guardrails on one outcome, an amount on an event that is not a pay."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.api.conftest import FRIENDLY, Api, debtor
from tests.clock import DAY, iso

_names = (f"n{n}" for n in itertools.count())


def _unique() -> str:
    return next(_names)


def _problem(r: Any, field: str) -> dict[str, Any]:
    """The 422's first problem, checked to be placed at ``field`` and worded without
    pydantic's prefix; the message is ``field: problem``."""
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_request", error
    first: dict[str, Any] = error["details"][0]
    assert first["field"] == field, error
    assert error["message"].startswith(f"{field}: {first['problem']}"), error
    assert "Value error" not in r.text, error
    return first


def _campaign(api: Api, **settings: Any) -> Any:
    return api.post("/v1/campaigns", "admin", {"key": _unique(), "burn_in": 0, **settings})


def _template(api: Api, campaign: str, when: Any) -> Any:
    """A template registered with the raw JSON text ``when`` (1e400, NaN: what JSON allows)."""
    body = json.dumps({**FRIENDLY, "key": _unique()})[:-1] + f', "when": {when}}}'
    headers = {**api.as_("manager"), "content-type": "application/json"}
    return api.client.post(f"/v1/campaigns/{campaign}/templates", content=body, headers=headers)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"segment_by": ["last_outcome"], "buckets": {"last_outcome": [1, 2]}}, "last_outcome"),
        ({"segment_by": ["last_channel"], "buckets": {"last_channel": [1]}}, "last_channel"),
        ({"segment_by": ["risk", "touch"], "buckets": {"touch": [2, 4]}}, "touch"),
        ({"segment_by": ["days_since_last"], "buckets": {"days_since_last": [1, 7]}}, "days"),
    ],
)
def test_buckets_only_on_values_a_decision_can_place(
    module_api: Api, settings: dict[str, Any], field: str
) -> None:
    """Only numeric attributes have buckets, and a history attribute's least value (touch 1,
    days_since_last 0) falls in one: else every decide would fail on an attribute the caller
    never sends."""
    (name,) = settings["buckets"]
    problem = _problem(_campaign(module_api, **settings), f"buckets.{name}")
    assert field in problem["problem"]


def test_buckets_on_numeric_history_attributes_place_every_decision(module_api: Api) -> None:
    r = _campaign(
        module_api,
        segment_by=["touch", "days_since_last", "last_outcome"],
        buckets={"touch": [1, 2, 4], "days_since_last": [0, 3, 7]},
        caps=[],
    )
    assert r.status_code == 201, r.text
    campaign = r.json()["key"]
    assert module_api.post(f"/v1/campaigns/{campaign}/templates", "manager", FRIENDLY).is_success
    path = f"/v1/campaigns/{campaign}/decisions"
    answer = module_api.post(path, "sender", debtor("d-1", at=iso(DAY)))
    assert answer.status_code == 200, answer.text
    assert answer.json()["segment"] == "touch=1|days_since_last=none|last_outcome=none"


@pytest.mark.parametrize(
    ("segment_by", "field"),
    [(["touch", "touch"], "segment_by[1]"), (["risk", "touch", "risk"], "segment_by[2]")],
)
def test_segment_by_names_each_attribute_once(
    module_api: Api, segment_by: list[str], field: str
) -> None:
    _problem(_campaign(module_api, segment_by=segment_by), field)


@pytest.mark.parametrize(
    ("when", "field"),
    [
        ('{"touch": {"min": 1e400}}', "when.touch"),
        ('{"touch": {"min": NaN}}', "when.touch"),
        ('{"touch": {"max": -Infinity}}', "when.touch"),
        ('{"days_since_last": {"min": -1}}', "when.days_since_last"),
        ('{"touch": {"min": 1.5}}', "when.touch"),
        ('{"touch": {"min": 0}}', "when.touch"),
        ('{"attributes": {"dpd": {"max": 1e400}}}', "when.attributes.dpd"),
        ('{"attributes": {"dpd": [NaN]}}', "when.attributes.dpd"),
        ('{"touch": {"min": 3, "max": 2}}', "when.touch"),
        ('{"touch": {"min": 2}, "colour": ["red"]}', "when.colour"),
    ],
)
def test_a_condition_bound_that_no_value_can_meet_is_a_422(
    module_api: Api, when: str, field: str
) -> None:
    campaign = _campaign(module_api).json()["key"]
    _problem(_template(module_api, campaign, when), field)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["touch", "days_since_last"]),
    st.fixed_dictionaries(
        {}, optional={"min": st.integers(-3, 9) | st.floats(-3, 9), "max": st.integers(-3, 9)}
    ).filter(bool),
)
def test_condition_ranges_are_kept_exactly_when_the_attribute_can_take_them(
    module_api: Api, name: str, clause: dict[str, float]
) -> None:
    """A touch range of whole numbers from 1, a days_since_last range from 0, min <= max:
    registered and echoed as given; anything else a 422 placed at ``when.<name>``."""
    campaign = _campaign(module_api).json()["key"]
    least = 1 if name == "touch" else 0
    bounds = list(clause.values())
    good = all(b >= least for b in bounds) and clause.get("min", -9) <= clause.get("max", 99)
    good = good and (name != "touch" or all(float(b).is_integer() for b in bounds))
    r = _template(module_api, campaign, json.dumps({name: clause}))
    if good:
        assert r.status_code == 201, r.text
        assert r.json()["when"] == {name: clause}
        assert all(math.isfinite(b) for b in r.json()["when"][name].values())
    else:
        _problem(r, f"when.{name}")


def test_a_new_version_s_condition_is_checked_alike(module_api: Api) -> None:
    campaign = _campaign(module_api).json()["key"]
    r = module_api.post(f"/v1/campaigns/{campaign}/templates", "manager", FRIENDLY)
    assert r.status_code == 201, r.text
    body = {k: v for k, v in FRIENDLY.items() if k != "key"}
    r = module_api.put(
        f"/v1/campaigns/{campaign}/templates/friendly",
        "manager",
        {**body, "when": {"days_since_last": {"max": -2}}},
    )
    _problem(r, "when.days_since_last")


def test_slots_and_guardrails_are_placed_at_the_entry_at_fault(module_api: Api) -> None:
    slots = _campaign(module_api, send_slots=["08:00-11:00", "10:00-12:00"])
    problem = _problem(slots, "send_slots[1]")
    assert problem["problem"] == "'10:00-12:00' overlaps send_slots[0] '08:00-11:00'"
    quiet = _campaign(module_api, send_slots=["08:00-11:00", "20:00-22:00"])
    assert "quiet hours at 21:00" in _problem(quiet, "send_slots[1]")["problem"]
    twice = [{"outcome": "opt_out", "max_rate": 0.02}, {"outcome": "opt_out", "max_rate": 0.01}]
    _problem(_campaign(module_api, guardrails=twice), "guardrails[1]")
    champion = _campaign(module_api, policy="champion")
    assert "control template" in _problem(champion, "control")["problem"]


def test_a_patch_places_its_problem_alike(module_api: Api) -> None:
    campaign = _campaign(module_api).json()["key"]
    path = f"/v1/campaigns/{campaign}"
    twice = [{"outcome": "complaint", "max_rate": 0.01}] * 2
    r = module_api.client.patch(path, json={"guardrails": twice}, headers=module_api.as_("admin"))
    _problem(r, "guardrails[1]")
    slots = ["08:00-11:00", "09:00-10:00"]
    r = module_api.client.patch(path, json={"send_slots": slots}, headers=module_api.as_("admin"))
    _problem(r, "send_slots[1]")


def test_an_event_s_misplaced_setting_is_named(module_api: Api) -> None:
    body = {"event_id": "e-1", "type": "click", "decision_id": "x", "occurred_at": iso(DAY)}
    body["amount"] = 5.0
    problem = _problem(module_api.post("/v1/events", "sender", body), "amount")
    assert problem["problem"] == "is only for pay events"
