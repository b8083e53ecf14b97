"""Send slots: parsing and validation, send_at across daylight-saving changes, joint (arm,
slot) propensities, and slots that break a rule never chosen."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bandit.caps import Cap
from bandit.decide import DecisionConfig, decide_batch
from bandit.masks import batch_masks
from bandit.objectives import Objective
from bandit.policies import PolicyState, Thompson
from bandit.posterior import Posterior
from bandit.rules import ArmCatalog, Contact, ContactRules, Debtor
from bandit.slots import (
    Slot,
    SlotError,
    SlotSpace,
    decide_slots,
    pair_masks,
    parse_slot,
    parse_slots,
    send_at,
    send_times,
    slot_index,
    slot_of,
)
from bandit.stats import OUTCOMES, BoolArray

RULES = ContactRules()  # quiet 21:00-08:00
ZONES = [
    "America/New_York",
    "Europe/Berlin",
    "Europe/London",
    "Australia/Lord_Howe",  # a 30-minute daylight-saving shift
    "America/Santiago",
    "Asia/Kolkata",
    "UTC",
]
# instants around the 2026-2027 daylight-saving changes of the zones above, and anywhere else
DST_DAYS = [
    datetime(2026, 3, 8, tzinfo=UTC),
    datetime(2026, 3, 29, tzinfo=UTC),
    datetime(2026, 4, 5, tzinfo=UTC),
    datetime(2026, 9, 6, tzinfo=UTC),
    datetime(2026, 10, 4, tzinfo=UTC),
    datetime(2026, 10, 25, tzinfo=UTC),
    datetime(2026, 11, 1, tzinfo=UTC),
]
moments = st.one_of(
    st.builds(
        lambda day, minutes: day + timedelta(minutes=minutes),
        st.sampled_from(DST_DAYS),
        st.integers(-36 * 60, 36 * 60),
    ),
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
)


@st.composite
def quiet_rules(draw: st.DrawFn) -> ContactRules:
    start = draw(st.integers(0, 23 * 60 + 59))
    end = draw(st.integers(0, 23 * 60 + 59))
    return ContactRules(time(start // 60, start % 60), time(end // 60, end % 60))


@st.composite
def allowed_slot(draw: st.DrawFn, rules: ContactRules) -> Slot | None:
    """A window outside ``rules``' quiet hours (None when the day is all quiet)."""
    free = [m for m in range(24 * 60) if not rules.is_quiet(time(m // 60, m % 60))]
    if not free:
        return None
    start = draw(st.sampled_from(free))
    end = start + 1
    while end < 24 * 60 and not rules.is_quiet(time(end // 60, end % 60)):
        end += 1
    end = draw(st.integers(start + 1, end))
    label = f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
    return parse_slot(label)


def test_parse_slots_accepts_the_product_example() -> None:
    slots = parse_slots(["08:00-11:00", "11:00-14:00", "14:00-17:00", "17:00-21:00"], RULES)
    assert [s.label for s in slots] == ["08:00-11:00", "11:00-14:00", "14:00-17:00", "17:00-21:00"]
    assert slots[3].holds(time(20, 59)) and not slots[3].holds(time(21, 0))


@pytest.mark.parametrize(
    ("slots", "match"),
    [
        (["8:00-11:00"], r"send_slots\[0\].*not a window"),
        (["08:00-25:00"], "not a window"),
        (["11:00-08:00"], "end must be after the start"),
        (["08:00-08:00"], "end must be after the start"),
        (["08:00-12:00", "11:00-14:00"], r"send_slots\[1\].*overlaps send_slots\[0\]"),
        (["07:00-09:00"], "quiet hours at 07:00"),
        (["17:00-21:30"], "quiet hours at 21:00"),
        (["x"], "not a window"),
    ],
)
def test_bad_slots_are_named(slots: list[str], match: str) -> None:
    with pytest.raises(SlotError, match=match):
        parse_slots(slots, RULES)


def test_send_at_examples_new_york() -> None:
    zone = ZoneInfo("America/New_York")
    evening = parse_slot("17:00-21:00")
    noon = datetime(2026, 6, 1, 16, 0, tzinfo=UTC)  # 12:00 EDT
    assert send_at(evening, zone, noon) == datetime(2026, 6, 1, 21, 0, tzinfo=UTC)
    inside = datetime(2026, 6, 1, 22, 30, tzinfo=UTC)  # 18:30 EDT
    assert send_at(evening, zone, inside) == inside
    late = datetime(2026, 6, 2, 1, 30, tzinfo=UTC)  # 21:30 EDT: tomorrow's 17:00
    assert send_at(evening, zone, late) == datetime(2026, 6, 2, 21, 0, tzinfo=UTC)
    # spring forward: 2026-03-08 02:00 EST jumps to 03:00 EDT; a 02:30 window start opens at
    # the jump (03:00 EDT, 07:00 UTC)
    night = parse_slot("02:30-04:00")
    before = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # 00:00 EST
    assert send_at(night, zone, before) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), rules=quiet_rules(), zone=st.sampled_from(ZONES), at=moments)
def test_send_at_is_inside_its_window_outside_quiet_hours_never_before_at(
    data: st.DataObject, rules: ContactRules, zone: str, at: datetime
) -> None:
    slot = data.draw(allowed_slot(rules))
    if slot is None:
        return
    tz = ZoneInfo(zone)
    t = send_at(slot, tz, at)
    assert t >= at
    assert t - at < timedelta(days=2)
    wall = t.astimezone(tz).time()
    assert slot.holds(wall)
    assert not rules.is_quiet(wall)
    if t > at:  # the window's next start: a moment earlier was outside it (or before at)
        earlier = t - timedelta(seconds=1)
        assert earlier < at or not slot.holds(earlier.astimezone(tz).time())
    assert slot_of((slot,), tz, t) == 0


def random_posterior(rng: np.random.Generator, segments: int, arms: int) -> Posterior:
    shape = (segments, arms, len(OUTCOMES))
    rate = np.exp(rng.uniform(np.log(1e-3), np.log(0.3), shape))
    weight = np.exp(rng.uniform(np.log(0.5), np.log(1e5), shape))
    return Posterior(
        alpha=rate * weight,
        beta=(1 - rate) * weight,
        amount_mean=np.full((segments, arms), 100.0),
        amount_sd=np.full((segments, arms), 10.0),
        cost=np.zeros(arms),
        tracked=np.ones((arms, len(OUTCOMES)), bool),
    )


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 12),
    floor=st.sampled_from([0.0, 0.05, 0.2]),
)
def test_joint_propensities_over_eligible_pairs_sum_to_one(seed: int, n: int, floor: float) -> None:
    rng = np.random.default_rng(seed)
    channels = ("email", "sms", "letter")
    arm_channel = ["email", "sms", "sms", "letter"]
    space = SlotSpace(channels, parse_slots(["08:00-12:00", "12:00-17:00", "17:00-21:00"], RULES))
    k, t, s = len(arm_channel), len(space.slots), 3
    pairs = rng.random((n, k, t)) < 0.6
    segments = rng.integers(0, s, n)
    arm_state = PolicyState(random_posterior(rng, s, k), Objective.parse("pay"), np.zeros((s, k)))
    slot_state = PolicyState(
        random_posterior(rng, s, space.size), Objective.parse("pay"), np.zeros((s, space.size))
    )
    arm_masks: BoolArray = np.asarray(pairs.any(axis=2), dtype=bool)
    arms = decide_batch(
        Thompson(), arm_state, segments, arm_masks, DecisionConfig(exploration_floor=floor), rng
    )
    for i in range(n):
        if not arm_masks[i].any():
            assert arms.arm[i] == -1
            continue
        allocation = arms.allocation[arms.groups.of_debtor[i]]
        total = 0.0
        for arm in np.flatnonzero(arm_masks[i]):
            masks = space.masks([arm_channel[arm]], pairs[i, arm][None])
            slots = decide_slots(Thompson(), slot_state, segments[i : i + 1], masks, floor, rng)
            chosen = int(slot_index(space, slots.arm)[0])
            assert pairs[i, arm, chosen]  # never an ineligible slot
            total += float(allocation[arm]) * float(slots.allocation[0].sum())
            assert 0 < float(slots.propensity[0]) <= 1.0  # a drawn slot had a chance
        assert total == pytest.approx(1.0, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    zone=st.sampled_from(ZONES),
    at=moments,
    contacts=st.lists(st.integers(-48 * 60, 48 * 60), max_size=4),
)
def test_a_slot_that_breaks_a_cap_is_never_chosen(
    seed: int, zone: str, at: datetime, contacts: list[int]
) -> None:
    rng = np.random.default_rng(seed)
    rules = ContactRules(caps=(Cap("sms", 1, 0.5),))  # one SMS in any 12 hours
    catalog = ArmCatalog(
        templates=("friendly",),
        channels=("sms",),
        marketing=(False,),
        active=(True,),
        locales=(frozenset({"en"}),),
    )
    history = tuple(Contact(at + timedelta(minutes=m), "sms", "friendly") for m in contacts)
    debtor = Debtor(frozenset({"sms"}), zone, "en", history=history)
    space = SlotSpace(("sms",), parse_slots(["08:00-11:00", "13:00-15:00", "18:00-21:00"], rules))
    starts = send_times(space.slots, [ZoneInfo(zone)], [at])
    pairs = pair_masks(catalog, rules, [debtor], starts)
    for s, moment in enumerate(starts[0]):
        assert bool(pairs[0, 0, s]) == bool(batch_masks(catalog, rules, [debtor], moment)[0, 0])
    if not pairs[0, 0].any():
        return
    state = PolicyState(
        random_posterior(rng, 1, space.size), Objective.parse("pay"), np.zeros((1, 3))
    )
    out = decide_slots(
        Thompson(), state, np.zeros(1, np.int64), space.masks(["sms"], pairs[0]), 0.1, rng
    )
    chosen = int(slot_index(space, out.arm)[0])
    moment = starts[0][chosen]
    assert batch_masks(catalog, rules, [debtor], moment)[0, 0]
    assert not rules.is_quiet(moment.astimezone(ZoneInfo(zone)).time())
