"""The rest of Regulation F and state law as masks (bandit.addresses, bandit.masks): per-debt
caps, no call within 7 days after a conversation about the debt, per-address opt-outs and
workplace email. Properties: for random histories the mask never breaks a rule (checked by
brute force), every exclusion names its rule, and the batch masks equal one-by-one
eligibility; plus one table per rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bandit.addresses import (
    Conversation,
    address_list,
    conversation_until,
    eligible_addresses,
    normal_address,
    workplace_consent,
)
from bandit.eligibility import (
    ArmCatalog,
    Cap,
    Contact,
    ContactRules,
    Debtor,
    batch_masks,
    eligibility,
)
from bandit.rules import CODES

NOW = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)
CHANNELS = ("email", "sms", "voice")
CATALOG = ArmCatalog(
    templates=("t",) * 3,
    channels=CHANNELS,
    marketing=(False,) * 3,
    active=(True,) * 3,
    locales=(frozenset({"en"}),) * 3,
)
DEBTS = st.sampled_from([None, "A", "B"])
SMS = ("+1 555 0100", "+15550101", "+1-555-0102")


@st.composite
def debtors(draw: st.DrawFn) -> tuple[ContactRules, Debtor]:
    hours = st.floats(-24 * 10, 24 * 10, allow_nan=False)
    history = tuple(
        Contact(
            NOW + timedelta(hours=draw(hours)), draw(st.sampled_from(CHANNELS)), "t", draw(DEBTS)
        )
        for _ in range(draw(st.integers(0, 8)))
    )
    conversations = tuple(
        Conversation(NOW - timedelta(hours=draw(st.floats(-24, 24 * 9))), draw(DEBTS))
        for _ in range(draw(st.integers(0, 2)))
    )
    given_sms = draw(st.lists(st.sampled_from(SMS), max_size=3, unique=True))
    opted = draw(st.lists(st.sampled_from(SMS), max_size=3, unique=True))
    addresses = (("sms", address_list(given_sms)),) if given_sms else ()
    cap = Cap("voice", draw(st.integers(0, 3)), 7.0, per=draw(st.sampled_from(["debtor", "debt"])))
    rules = ContactRules(
        quiet_start=NOW.time().replace(hour=0), quiet_end=NOW.time().replace(hour=0), caps=(cap,)
    )
    debtor = Debtor(
        channels=frozenset(CHANNELS),
        timezone="UTC",
        locale="en",
        history=history,
        debt_id=draw(DEBTS),
        addresses=addresses,
        opted_addresses=frozenset(("sms", normal_address(a)) for a in opted),
        conversations=conversations,
        workplace_email=draw(st.booleans()),
    )
    return rules, debtor


def _about(debt: str | None, other: str | None) -> bool:
    return debt is None or other is None or debt == other


@settings(max_examples=300, deadline=None)
@given(debtors())
def test_the_mask_never_breaks_a_regulation_f_rule(case: tuple[ContactRules, Debtor]) -> None:
    rules, debtor = case
    found = eligibility(CATALOG, rules, debtor, NOW)
    email, sms, voice = (bool(found.mask[k]) for k in range(3))
    cap = rules.caps[0]
    if voice:
        # per debt: only the contacts about the debt count; no window holding now overflows
        counted = [
            c.at
            for c in debtor.history
            if c.channel == "voice" and (cap.per == "debtor" or _about(debtor.debt_id, c.debt_id))
        ]
        for end in [NOW, *(t for t in counted if NOW < t < NOW + timedelta(days=7))]:
            inside = [t for t in counted if end - timedelta(days=7) < t <= end]
            assert len(inside) + 1 <= cap.max
        for c in debtor.conversations:
            if _about(debtor.debt_id, c.debt_id):
                assert not (c.at <= NOW < c.at + timedelta(days=7))
    if email:
        assert not debtor.workplace_email
    if sms and debtor.addresses:
        usable = eligible_addresses("sms", debtor.address_map, debtor.opted_addresses)
        assert usable and all(("sms", a) not in debtor.opted_addresses for a in usable)
    # every exclusion is one of the known rules, and an excluded arm has one
    codes = {e.code for e in found.exclusions}
    assert codes <= set(CODES)
    for k, key in enumerate(CATALOG.keys):
        assert bool(found.mask[k]) == (not any(e.arm == key for e in found.exclusions))
    # the batch masks say the same
    assert np.array_equal(batch_masks(CATALOG, rules, [debtor], NOW)[0], found.mask)


@settings(max_examples=200, deadline=None)
@given(debtors())
def test_after_a_conversation_waiting_lifts_the_call_ban_exactly_7_days_later(
    case: tuple[ContactRules, Debtor],
) -> None:
    rules, debtor = case
    until = conversation_until(debtor.conversations, debtor.debt_id, NOW)
    found = eligibility(CATALOG, rules, debtor, NOW)
    reasons = [e for e in found.exclusions if e.code == "after_conversation"]
    assert bool(reasons) == (until is not None)
    if until is not None:
        assert reasons[0].until == until and reasons[0].channel == "voice"
        assert conversation_until(debtor.conversations, debtor.debt_id, until) is None or any(
            c.at <= until < c.at + timedelta(days=7) for c in debtor.conversations
        )


def _debtor(**kw: object) -> Debtor:
    return Debtor(channels=frozenset(CHANNELS), timezone="UTC", locale="en", **kw)  # type: ignore[arg-type]


RULES = ContactRules(
    quiet_start=NOW.time().replace(hour=0), quiet_end=NOW.time().replace(hour=0), caps=()
)


def test_reg_f_7_in_7_per_debt_counts_only_that_debts_calls() -> None:
    rules = ContactRules(
        quiet_start=RULES.quiet_start,
        quiet_end=RULES.quiet_end,
        caps=(Cap("voice", 7, 7.0, per="debt"),),
    )
    calls = tuple(Contact(NOW - timedelta(hours=h + 1), "voice", "t", "A") for h in range(7))
    assert not eligibility(CATALOG, rules, _debtor(history=calls, debt_id="A"), NOW).mask[2]
    assert eligibility(CATALOG, rules, _debtor(history=calls, debt_id="B"), NOW).mask[2]
    # a decision without a debt counts every call: the rule never undercounts
    assert not eligibility(CATALOG, rules, _debtor(history=calls), NOW).mask[2]
    reason = next(
        e for e in eligibility(CATALOG, rules, _debtor(history=calls, debt_id="A"), NOW).exclusions
    )
    assert reason.code == "frequency_cap" and "about this debt" in reason.detail


def test_a_conversation_blocks_calls_about_that_debt_for_7_days() -> None:
    talk = (Conversation(NOW - timedelta(days=2), "A"),)
    held = eligibility(CATALOG, RULES, _debtor(conversations=talk, debt_id="A"), NOW)
    assert list(held.mask) == [True, True, False]
    (reason,) = held.exclusions
    assert (reason.code, reason.until) == ("after_conversation", NOW + timedelta(days=5))
    assert eligibility(CATALOG, RULES, _debtor(conversations=talk, debt_id="B"), NOW).mask[2]
    # exactly 7 days later a call is allowed
    assert eligibility(
        CATALOG, RULES, _debtor(conversations=talk, debt_id="A"), NOW + timedelta(days=5)
    ).mask[2]
    # with only voice, the next allowed time is the end of the wait
    voice_only = ArmCatalog(("t",), ("voice",), (False,), (True,), (frozenset({"en"}),))
    found = eligibility(voice_only, RULES, _debtor(conversations=talk, debt_id="A"), NOW)
    assert found.next_allowed_at == NOW + timedelta(days=5)


def test_per_address_opt_outs_leave_the_other_addresses() -> None:
    given = {"sms": address_list(["+1 (555) 0100", "+15550101"])}
    assert eligible_addresses("sms", given, {("sms", "+15550100")}) == ("+15550101",)
    assert eligible_addresses("sms", given, {("sms", "+15550100"), ("sms", "+15550101")}) == ()
    assert eligible_addresses("email", given, set()) is None  # none given: the channel counts
    debtor = _debtor(
        addresses=tuple(given.items()),
        opted_addresses=frozenset({("sms", "+15550100"), ("sms", "+15550101")}),
    )
    found = eligibility(CATALOG, RULES, debtor, NOW)
    assert list(found.mask) == [True, False, True]
    assert [e.code for e in found.exclusions] == ["address_opted_out"]
    assert normal_address(" Ada@Example.COM ") == "ada@example.com"


def test_workplace_email_needs_consent() -> None:
    found = eligibility(CATALOG, RULES, _debtor(workplace_email=True), NOW)
    assert list(found.mask) == [False, True, True]
    assert [e.code for e in found.exclusions] == ["workplace_email"]
    assert workplace_consent({"workplace_email_consent": True})
    assert not workplace_consent({"workplace_email_consent": "yes"})


def test_bad_cap_per_is_refused() -> None:
    with pytest.raises(ValueError, match="per"):
        Cap("voice", 7, 7.0, per="household")
