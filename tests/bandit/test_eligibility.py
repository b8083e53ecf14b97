"""Eligibility: properties re-checked by brute force, and one table per rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bandit.days import micros
from bandit.eligibility import (
    CHANNELS,
    ArmCatalog,
    Cap,
    Contact,
    ContactRules,
    Debtor,
    Eligibility,
    UnknownTimezone,
    batch_masks,
    eligibility,
    masks_of,
    row_failures,
    rule_failures,
)

ZONES = (
    "America/New_York",
    "America/Los_Angeles",
    "America/St_Johns",
    "America/Santiago",
    "Europe/London",
    "Europe/Berlin",
    "Africa/Casablanca",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Tokyo",
    "Australia/Adelaide",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Auckland",
    "UTC",
)
TEMPLATES = ("notice", "friendly", "firm", "offer")
LOCALES = ("en", "de", "fr")
CODES = {
    "inactive",
    "no_consent",
    "opted_out",
    "marketing_consent",
    "locale_missing",
    "first_contact",
    "quiet_hours",
    "frequency_cap",
}
TIME_CODES = {"quiet_hours", "frequency_cap"}
NY = ZoneInfo("America/New_York")


def _transition_days(name: str) -> list[date]:
    """Local dates in 2025-2026 on which the zone's UTC offset changes."""
    zone, day, days = ZoneInfo(name), date(2025, 1, 1), []
    while day < date(2027, 1, 1):
        start = datetime.combine(day, time(), tzinfo=zone).utcoffset()
        if datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).utcoffset() != start:
            days.append(day)
        day += timedelta(days=1)
    return days


DST_DAYS = {name: _transition_days(name) for name in ZONES}


# --- brute-force re-checks, written without the module's helpers -------------------------


def quiet_brute(rules: ContactRules, local: time) -> bool:
    def seconds(t: time) -> float:
        return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6

    start, end, x = seconds(rules.quiet_start), seconds(rules.quiet_end), seconds(local)
    if start == end:
        return False
    if start < end:
        return start <= x < end
    return not end <= x < start


def utc(at: datetime) -> datetime:
    """Aware arithmetic and comparison within one zone are on wall time: go through UTC."""
    return at.astimezone(UTC)


def in_window(debtor: Debtor, cap: Cap, end: datetime) -> int:
    """Contacts on the cap's channel in the window (end - days, end]."""
    since = utc(end) - timedelta(days=cap.days)
    return sum(
        1
        for c in debtor.history
        if cap.channel in ("*", c.channel) and since < utc(c.at) <= utc(end)
    )


def crowded(debtor: Debtor, cap: Cap, at: datetime) -> int:
    """The most contacts in any window that contains ``at`` (one ending in [at, at + days)),
    past and future contacts alike: a window's count changes only where its end passes a
    contact or a contact's time + days, so every such point in that range is tried."""
    span = timedelta(days=cap.days)
    points = {utc(c.at) for c in debtor.history} | {utc(c.at) + span for c in debtor.history}
    ends = [utc(at)] + [p for p in points if utc(at) <= p < utc(at) + span]
    return max(in_window(debtor, cap, end) for end in ends)


def applicable(rules: ContactRules, debtor: Debtor, channel: str) -> list[Cap]:
    return [
        cap
        for cap in rules.caps
        if cap.channel in ("*", channel) and cap.jurisdiction in (None, debtor.jurisdiction)
    ]


def local_time(debtor: Debtor, at: datetime) -> time:
    return at.astimezone(ZoneInfo(debtor.timezone)).time()


# --- strategies ---------------------------------------------------------------------------


@st.composite
def moments(draw: st.DrawFn, zone: str) -> datetime:
    """An aware instant, often on one of the zone's DST transition days (gaps and folds)."""
    if draw(st.booleans()) and DST_DAYS[zone]:
        day = draw(st.sampled_from(DST_DAYS[zone]))
        wall = datetime.combine(day - timedelta(days=1), time()) + timedelta(
            minutes=draw(st.integers(0, 3 * 24 * 60)), seconds=draw(st.sampled_from([0, 0, 17]))
        )
        local = wall.replace(tzinfo=ZoneInfo(zone), fold=draw(st.integers(0, 1)))
        instant = local.astimezone(UTC)
    else:
        naive = draw(st.datetimes(datetime(2020, 1, 1), datetime(2030, 12, 31)))
        instant = naive.replace(tzinfo=UTC)
    return instant.astimezone(ZoneInfo(zone)) if draw(st.booleans()) else instant


quarter_hours = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
caps = st.builds(
    Cap,
    channel=st.sampled_from((*CHANNELS, "*")),
    max=st.integers(0, 5),
    days=st.one_of(st.sampled_from([0.5, 1.0, 2.0, 3.5, 7.0, 10.0]), st.floats(0.01, 15.0)),
    jurisdiction=st.sampled_from([None, None, "MA", "NY"]),
)
rules_strategy = st.builds(
    ContactRules,
    quiet_start=st.one_of(st.sampled_from([time(21, 0), time(8, 0)]), quarter_hours),
    quiet_end=st.one_of(st.just(time(8, 0)), quarter_hours),
    caps=st.lists(caps, max_size=4).map(tuple),
    first_contact_template=st.sampled_from([None, None, "notice"]),
    fallback_locale=st.sampled_from([None, "en"]),
)
ARMS = [(t, c) for t in TEMPLATES for c in CHANNELS]


@st.composite
def catalogs(draw: st.DrawFn) -> ArmCatalog:
    arms = draw(st.lists(st.sampled_from(ARMS), min_size=1, max_size=12, unique=True))
    k = len(arms)
    locales = st.one_of(st.just(frozenset(LOCALES)), st.frozensets(st.sampled_from(LOCALES)))
    return ArmCatalog(
        templates=tuple(t for t, _ in arms),
        channels=tuple(c for _, c in arms),
        marketing=tuple(
            draw(st.lists(st.sampled_from([False] * 3 + [True]), min_size=k, max_size=k))
        ),
        active=tuple(draw(st.lists(st.sampled_from([True] * 4 + [False]), min_size=k, max_size=k))),
        locales=tuple(draw(st.lists(locales, min_size=k, max_size=k))),
    )


@st.composite
def debtors(draw: st.DrawFn, now: datetime, zone: str | None = None) -> Debtor:
    """A debtor with 0-30 contacts from 20 days before ``now`` to 10 days after it (a
    back-dated decision has contacts after its time; some fall on window edges)."""
    edges = [0, 43200, 86400, 2 * 86400, 302400, 7 * 86400, 10 * 86400]
    offsets = st.one_of(
        st.integers(-10 * 86400, 20 * 86400),
        st.sampled_from(edges + [-e for e in edges]),
    )
    contact = st.builds(
        lambda s, c, t: Contact(utc(now) - timedelta(seconds=s), c, t),
        offsets,
        st.sampled_from(CHANNELS),
        st.sampled_from(TEMPLATES),
    )
    channels = st.frozensets(st.sampled_from(CHANNELS))
    return Debtor(
        channels=draw(st.one_of(st.just(frozenset(CHANNELS)), channels)),
        timezone=zone or draw(st.sampled_from(ZONES)),
        locale=draw(st.sampled_from(LOCALES)),
        marketing_consent=draw(st.booleans()),
        opted_out=draw(st.one_of(st.just(frozenset[str]()), channels)),
        jurisdiction=draw(st.sampled_from([None, "MA", "NY"])),
        history=tuple(draw(st.lists(contact, max_size=30))),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[ArmCatalog, ContactRules, Debtor, datetime]:
    zone = draw(st.sampled_from(ZONES))
    now = draw(moments(zone))
    return draw(catalogs()), draw(rules_strategy), draw(debtors(now, zone)), now


# --- properties ---------------------------------------------------------------------------


def check_mask(catalog: ArmCatalog, rules: ContactRules, debtor: Debtor, now: datetime) -> None:
    """Every arm in the mask passes every rule, re-checked by brute force."""
    result = eligibility(catalog, rules, debtor, now)
    excluded = {e.arm for e in result.exclusions}
    for k, key in enumerate(catalog.keys):
        channel, template = catalog.channels[k], catalog.templates[k]
        assert bool(result.mask[k]) == (key not in excluded), key
        if not result.mask[k]:
            continue
        assert not quiet_brute(rules, local_time(debtor, now))
        for cap in applicable(rules, debtor, channel):
            assert crowded(debtor, cap, now) < cap.max, (key, cap)
        assert catalog.active[k] and channel in debtor.channels
        assert channel not in debtor.opted_out
        assert debtor.marketing_consent or not catalog.marketing[k]
        assert result.locales[k] in catalog.locales[k]
        first = rules.first_contact_template
        if first is not None and template != first:
            assert any(c.template == first for c in debtor.history)


@settings(max_examples=100, deadline=None)
@given(cases())
def test_mask_never_breaks_a_rule(case: tuple[ArmCatalog, ContactRules, Debtor, datetime]) -> None:
    check_mask(*case)


def cap_lapses(debtor: Debtor, cap: Cap, now: datetime) -> datetime | None:
    """First instant >= now with fewer than max contacts in the window: the count only falls
    when a contact leaves the window, so try now and every contact time + days after it."""
    if cap.max == 0:
        return None
    leave = {utc(c.at) + timedelta(days=cap.days) for c in debtor.history}
    moments = sorted({now} | {m for m in leave if m > now})
    return next((m for m in moments if crowded(debtor, cap, m) < cap.max), None)


@settings(max_examples=100, deadline=None)
@given(cases())
def test_every_until_is_the_first_moment_its_reason_lapses(
    case: tuple[ArmCatalog, ContactRules, Debtor, datetime],
) -> None:
    catalog, rules, debtor, now = case
    result = eligibility(catalog, rules, debtor, now)
    assert result.mask.dtype == np.bool_ and result.mask.shape == (len(catalog.keys),)
    checked: set[datetime | None] = set()
    for k, key in enumerate(catalog.keys):
        reasons = [e for e in result.exclusions if e.arm == key]
        assert {e.code for e in reasons} <= CODES and all(e.detail for e in reasons)
        assert all(e.channel == catalog.channels[k] for e in reasons)
        assert all(e.until is None for e in reasons if e.code not in TIME_CODES)
        quiet = [e.until for e in reasons if e.code == "quiet_hours"]
        assert len(quiet) == int(quiet_brute(rules, local_time(debtor, now)))
        for until in quiet:
            assert until is not None and until > now and until.utcoffset() == timedelta(0)
            assert not quiet_brute(rules, local_time(debtor, until))
            checked.add(until)
        capped = sorted(
            (e.until for e in reasons if e.code == "frequency_cap"), key=lambda u: (u is None, u)
        )
        expected = sorted(
            (
                cap_lapses(debtor, cap, now)
                for cap in applicable(rules, debtor, catalog.channels[k])
                if crowded(debtor, cap, now) >= cap.max
            ),
            key=lambda u: (u is None, u),
        )
        assert capped == expected
    for until in checked - {None}:  # quiet all the way from now to until (every 10 minutes)
        assert until is not None
        probes = [until - timedelta(microseconds=1)]
        probes += [utc(now) + timedelta(minutes=m) for m in range(0, 2000, 10)]
        assert all(quiet_brute(rules, local_time(debtor, p)) for p in probes if p < until)


@settings(max_examples=100, deadline=None)
@given(cases())
def test_next_allowed_at_is_the_earliest_send(
    case: tuple[ArmCatalog, ContactRules, Debtor, datetime],
) -> None:
    catalog, rules, debtor, now = case
    result = eligibility(catalog, rules, debtor, now)
    waiting = [
        key
        for key in catalog.keys
        if (reasons := [e for e in result.exclusions if e.arm == key])
        and all(e.until is not None for e in reasons)
    ]
    if result.mask.any():
        assert result.next_allowed_at is None
        return
    assert (result.next_allowed_at is not None) == bool(waiting)
    if result.next_allowed_at is None:
        return
    assert result.next_allowed_at > now
    assert eligibility(catalog, rules, debtor, result.next_allowed_at).mask.any()
    check_mask(catalog, rules, debtor, result.next_allowed_at)
    before = result.next_allowed_at - timedelta(minutes=1)
    if before >= now:
        assert not eligibility(catalog, rules, debtor, before).mask.any()


@st.composite
def waiting_cases(draw: st.DrawFn) -> tuple[ArmCatalog, ContactRules, Debtor, datetime]:
    """Only quiet hours and caps in play, with busy histories: waiting must always help."""
    zone = draw(st.sampled_from(ZONES))
    now = draw(moments(zone))
    channels = draw(st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=3, unique=True))
    catalog = ArmCatalog(
        templates=("friendly",) * len(channels),
        channels=tuple(channels),
        marketing=(False,) * len(channels),
        active=(True,) * len(channels),
        locales=(frozenset({"en"}),) * len(channels),
    )
    cap = st.builds(
        Cap,
        channel=st.sampled_from((*channels, "*")),
        max=st.integers(1, 3),
        days=st.sampled_from([0.5, 1.0, 2.0, 3.5, 7.0]),
    )
    rules = ContactRules(
        quiet_start=draw(quarter_hours),
        quiet_end=draw(quarter_hours),
        caps=tuple(draw(st.lists(cap, min_size=1, max_size=3))),
    )
    debtor = draw(debtors(now, zone))
    debtor = Debtor(frozenset(CHANNELS), zone, "en", history=debtor.history)
    return catalog, rules, debtor, now


@settings(max_examples=100, deadline=None)
@given(waiting_cases())
def test_waiting_always_helps_when_only_time_stands_in_the_way(
    case: tuple[ArmCatalog, ContactRules, Debtor, datetime],
) -> None:
    catalog, rules, debtor, now = case
    result = eligibility(catalog, rules, debtor, now)
    check_mask(catalog, rules, debtor, now)
    if result.mask.any():
        return
    assert result.next_allowed_at is not None
    assert eligibility(catalog, rules, debtor, result.next_allowed_at).mask.any()
    before = result.next_allowed_at - timedelta(minutes=1)
    if before >= now:
        assert not eligibility(catalog, rules, debtor, before).mask.any()


@st.composite
def batches(draw: st.DrawFn) -> tuple[ArmCatalog, ContactRules, list[Debtor], datetime]:
    now = draw(moments(draw(st.sampled_from(ZONES))))
    group = draw(st.lists(debtors(now), max_size=6))
    return draw(catalogs()), draw(rules_strategy), group, now


@settings(max_examples=50, deadline=None)
@given(batches())
def test_batch_masks_equal_row_by_row_eligibility(
    batch: tuple[ArmCatalog, ContactRules, list[Debtor], datetime],
) -> None:
    catalog, rules, group, now = batch
    masks = batch_masks(catalog, rules, group, now)
    assert masks.shape == (len(group), len(catalog.keys)) and masks.dtype == np.bool_
    for row, debtor in zip(masks, group, strict=True):
        np.testing.assert_array_equal(row, eligibility(catalog, rules, debtor, now).mask)


@settings(max_examples=50, deadline=None)
@given(batches())
def test_eligibility_from_a_batch_s_failures_equals_its_own(
    batch: tuple[ArmCatalog, ContactRules, list[Debtor], datetime],
) -> None:
    """A no-send's reasons reuse the failures its batch's masks were made from: the same
    answer as computing them for the debtor alone."""
    catalog, rules, group, now = batch
    n, k = len(group), len(catalog.keys)
    fails = rule_failures(catalog, rules, group, micros(now))
    np.testing.assert_array_equal(masks_of(fails, n, k), batch_masks(catalog, rules, group, now))
    for row, debtor in enumerate(group):
        alone = eligibility(catalog, rules, debtor, now)
        reused = eligibility(catalog, rules, debtor, now, row_failures(fails, n, k, row))
        np.testing.assert_array_equal(reused.mask, alone.mask)
        assert (reused.locales, reused.exclusions) == (alone.locales, alone.exclusions)
        assert reused.next_allowed_at == alone.next_allowed_at


# --- tables: one concrete example per rule ---------------------------------------------

NOON_NY = datetime(2026, 11, 20, 12, 0, tzinfo=NY)  # a Friday, 17:00 UTC, no DST nearby
ALL_DAY = ContactRules(quiet_start=time(0, 0), quiet_end=time(0, 0), caps=())


def one_arm(template: str = "friendly", channel: str = "voice", **columns: object) -> ArmCatalog:
    values: dict[str, object] = {"marketing": False, "active": True, "locales": frozenset({"en"})}
    values |= columns
    return ArmCatalog(
        (template,),
        (channel,),
        (bool(values["marketing"]),),
        (bool(values["active"]),),
        (values["locales"],),  # type: ignore[arg-type]
    )


def debtor(zone: str = "America/New_York", **fields: object) -> Debtor:
    values: dict[str, object] = {"channels": frozenset(CHANNELS), "timezone": zone, "locale": "en"}
    return Debtor(**(values | fields))  # type: ignore[arg-type]


def codes(result: Eligibility) -> list[str]:
    return [e.code for e in result.exclusions]


def calls(
    *days_ago: float, channel: str = "voice", template: str = "friendly"
) -> tuple[Contact, ...]:
    return tuple(Contact(NOON_NY - timedelta(days=d), channel, template) for d in days_ago)


MA_RULES = ContactRules(caps=(Cap("voice", 7, 7.0), Cap("voice", 2, 7.0, jurisdiction="MA")))


def test_massachusetts_allows_two_calls_a_week_where_others_allow_seven() -> None:
    history = calls(1, 3, 6)
    ma = eligibility(one_arm(), MA_RULES, debtor(jurisdiction="MA", history=history), NOON_NY)
    ny = eligibility(one_arm(), MA_RULES, debtor(jurisdiction="NY", history=history), NOON_NY)
    assert not ma.mask[0] and ny.mask.tolist() == [True]
    (cap,) = ma.exclusions
    until = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)  # the call 3 days ago leaves the window
    assert (cap.code, cap.arm, cap.channel, cap.until) == (
        "frequency_cap",
        "friendly:voice",
        "voice",
        until,
    )
    assert cap.detail == (
        "3 of 2 voice contacts allowed in 7 days (MA) already made; next at 2026-11-24T17:00:00+00:00"
    )
    assert ma.next_allowed_at == until
    assert eligibility(one_arm(), MA_RULES, debtor(jurisdiction="MA", history=history), until).mask[
        0
    ]
    seven = debtor(jurisdiction="NY", history=calls(0, 1, 2, 3, 4, 5, 6.5))
    assert codes(eligibility(one_arm(), MA_RULES, seven, NOON_NY)) == ["frequency_cap"]


@pytest.mark.parametrize(
    ("days_ago", "allowed"),
    [((7.0,), True), ((6.99,), False), ((0.0,), False), ((-0.5,), False), ((-7.0,), True)],
    ids=[
        "leaves-window-at-exactly-7-days",
        "just-inside",
        "sent-now-counts",
        "a-later-contact-counts",
        "one-exactly-7-days-later-does-not",
    ],
)
def test_cap_window_is_half_open(days_ago: tuple[float, ...], allowed: bool) -> None:
    rules = ContactRules(quiet_start=time(0), quiet_end=time(0), caps=(Cap("voice", 1, 7.0),))
    result = eligibility(one_arm(), rules, debtor(history=calls(*days_ago)), NOON_NY)
    assert bool(result.mask[0]) is allowed


def test_a_back_dated_contact_cannot_squeeze_between_existing_ones() -> None:
    """Letters at 10:00, 10:00, then back-dated 09:00 and 08:00 under a cap of 2 a day: only
    the first two go out, and an earlier day's window that reaches them counts them too."""
    rules = ContactRules(quiet_start=time(0), quiet_end=time(0), caps=(Cap("letter", 2, 1.0),))
    day = datetime(2026, 3, 2, tzinfo=UTC)
    sent: list[Contact] = []
    for hour in (10, 10, 9, 8):
        at = day + timedelta(hours=hour)
        mine = debtor(history=tuple(sent))
        if eligibility(one_arm(channel="letter"), rules, mine, at).mask[0]:
            sent.append(Contact(at, "letter", "friendly"))
    assert [c.at.hour for c in sent] == [10, 10]
    previous_evening = day - timedelta(hours=2)  # its window would hold it and both 10:00s
    assert not eligibility(
        one_arm(channel="letter"), rules, debtor(history=tuple(sent)), previous_evening
    ).mask[0]
    next_morning = day + timedelta(days=1, hours=10)  # exactly a day later: both rolled out
    assert eligibility(
        one_arm(channel="letter"), rules, debtor(history=tuple(sent)), next_morning
    ).mask[0]


def test_cap_across_all_channels_and_a_zero_cap() -> None:
    catalog = ArmCatalog(
        ("friendly", "friendly"), ("email", "letter"), (False, False), (True, True),
        (frozenset({"en"}), frozenset({"en"})),
    )  # fmt: skip
    rules = ContactRules(caps=(Cap("*", 2, 1.0),))
    history = calls(0.1, channel="sms") + calls(0.2, channel="push")
    result = eligibility(catalog, rules, debtor(history=history), NOON_NY)
    assert codes(result) == ["frequency_cap", "frequency_cap"]
    assert "2 of 2 contacts on all channels allowed in 1 days" in result.exclusions[0].detail
    assert result.exclusions[0].until == NOON_NY + timedelta(days=0.8)  # 07:12, still quiet
    assert result.next_allowed_at == datetime(2026, 11, 21, 8, tzinfo=NY)
    never = ContactRules(caps=(Cap("letter", 0, 7.0),))
    result = eligibility(one_arm(channel="letter"), never, debtor(), NOON_NY)
    assert [(e.code, e.until) for e in result.exclusions] == [("frequency_cap", None)]
    assert "this cap allows none" in result.exclusions[0].detail
    assert result.next_allowed_at is None


@pytest.mark.parametrize(
    ("zone", "local", "start", "end", "until"),
    [
        # 22:30 EST -> 08:00 EST next morning
        ("America/New_York", datetime(2026, 11, 26, 22, 30), time(21), time(8), "2026-11-27T13:00"),
        # the night clocks spring forward: 08:00 is EDT (UTC-4)
        ("America/New_York", datetime(2026, 3, 7, 22, 30), time(21), time(8), "2026-03-08T12:00"),
        # the night clocks fall back: 08:00 is EST (UTC-5)
        ("America/New_York", datetime(2026, 10, 31, 22, 30), time(21), time(8), "2026-11-01T13:00"),
        # quiet hours end at 02:30, which does not exist that night: they end at 03:00 EDT
        ("America/New_York", datetime(2026, 3, 8, 1, 30), time(1), time(2, 30), "2026-03-08T07:00"),
        # half-hour offsets: 21:00 IST is 15:30 UTC; 08:00 IST is 02:30 UTC
        ("Asia/Kolkata", datetime(2026, 6, 1, 21, 0), time(21), time(8), "2026-06-02T02:30"),
        # Adelaide springs forward from +9:30 to +10:30 overnight
        ("Australia/Adelaide", datetime(2026, 10, 3, 22), time(21), time(8), "2026-10-03T21:30"),
        # Lord Howe moves by half an hour
        ("Australia/Lord_Howe", datetime(2026, 4, 4, 23), time(21), time(8), "2026-04-04T21:30"),
        # not wrapping midnight: 09:00-17:00 quiet, noon -> 17:00
        ("Europe/Berlin", datetime(2026, 7, 1, 12), time(9), time(17), "2026-07-01T15:00"),
        # wrapping: 22:00-06:00 at 05:59
        ("Europe/Berlin", datetime(2026, 7, 1, 5, 59), time(22), time(6), "2026-07-01T04:00"),
    ],
)
def test_quiet_hours_end_at_the_next_local_quiet_end(
    zone: str, local: datetime, start: time, end: time, until: str
) -> None:
    rules = ContactRules(quiet_start=start, quiet_end=end, caps=())
    now = local.replace(tzinfo=ZoneInfo(zone))
    result = eligibility(one_arm(), rules, debtor(zone), now)
    expected = datetime.fromisoformat(until).replace(tzinfo=UTC)
    assert [(e.code, e.until) for e in result.exclusions] == [("quiet_hours", expected)]
    assert result.next_allowed_at == expected
    assert eligibility(one_arm(), rules, debtor(zone), expected).mask[0]
    assert not eligibility(one_arm(), rules, debtor(zone), expected - timedelta(seconds=1)).mask[0]


def test_quiet_hours_in_the_repeated_hour_are_quiet_twice() -> None:
    rules = ContactRules(quiet_start=time(0), quiet_end=time(1, 30), caps=())
    fall_back = datetime(2026, 11, 1, tzinfo=UTC)  # NY repeats 01:00-02:00 from 05:00 UTC
    untils = {
        minutes: eligibility(one_arm(), rules, debtor(), fall_back + timedelta(minutes=minutes))
        for minutes in (5 * 60 + 10, 5 * 60 + 45, 6 * 60, 6 * 60 + 10)
    }
    assert untils[310].exclusions[0].until == fall_back + timedelta(
        hours=5, minutes=30
    )  # 01:10 EDT
    assert untils[345].mask[0]  # 01:45 EDT
    assert untils[360].exclusions[0].until == fall_back + timedelta(
        hours=6, minutes=30
    )  # 01:00 EST
    assert untils[370].exclusions[0].until == fall_back + timedelta(hours=6, minutes=30)


@pytest.mark.parametrize(
    ("start", "end", "wall", "quiet"),
    [
        (time(21), time(8), time(21), True),
        (time(21), time(8), time(7, 59, 59), True),
        (time(21), time(8), time(8), False),
        (time(21), time(8), time(20, 59), False),
        (time(22), time(6), time(0), True),
        (time(9), time(17), time(12), True),
        (time(9), time(17), time(17), False),
        (time(9), time(17), time(8, 59), False),
        (time(8), time(8), time(8), False),
        (time(8), time(8), time(3), False),
        (time(0), time(0), time(0), False),
    ],
)
def test_quiet_wall_times(start: time, end: time, wall: time, quiet: bool) -> None:
    rules = ContactRules(quiet_start=start, quiet_end=end, caps=())
    assert rules.is_quiet(wall) is quiet
    now = datetime.combine(date(2026, 7, 1), wall, tzinfo=ZoneInfo("Asia/Tokyo"))
    result = eligibility(one_arm(), rules, debtor("Asia/Tokyo"), now)
    assert codes(result) == (["quiet_hours"] if quiet else [])


def test_quiet_hours_and_cap_wait_for_each_other() -> None:
    catalog, rules = one_arm(), ContactRules(caps=(Cap("voice", 1, 1.0),))
    # the cap lifts at 23:00, inside quiet hours: the next send is 08:00 the next morning
    late = debtor(history=(Contact(datetime(2026, 11, 19, 23, tzinfo=NY), "voice", "friendly"),))
    result = eligibility(catalog, rules, late, NOON_NY)
    assert codes(result) == ["frequency_cap"]
    assert result.next_allowed_at == datetime(2026, 11, 21, 13, tzinfo=UTC)
    # quiet hours end at 08:00 but the cap holds until 09:15
    early = debtor(
        history=(Contact(datetime(2026, 11, 19, 9, 15, tzinfo=NY), "voice", "friendly"),)
    )
    result = eligibility(catalog, rules, early, datetime(2026, 11, 20, 6, tzinfo=NY))
    assert codes(result) == ["quiet_hours", "frequency_cap"]
    assert result.next_allowed_at == datetime(2026, 11, 20, 14, 15, tzinfo=UTC)


def test_fallback_locale() -> None:
    french = debtor(locale="fr")
    only_en, with_fr = one_arm(locales=frozenset({"en"})), one_arm(locales=frozenset({"en", "fr"}))
    fallback = ContactRules(caps=(), fallback_locale="en")
    result = eligibility(only_en, fallback, french, NOON_NY)
    assert result.mask[0] and result.locales == ("en",)
    assert eligibility(with_fr, fallback, french, NOON_NY).locales == ("fr",)
    result = eligibility(only_en, ContactRules(caps=()), french, NOON_NY)
    assert codes(result) == ["locale_missing"] and result.locales == (None,)
    assert result.next_allowed_at is None
    german = ContactRules(caps=(), fallback_locale="de")
    assert codes(eligibility(only_en, german, french, NOON_NY)) == ["locale_missing"]


def test_first_contact_template_goes_first() -> None:
    catalog = ArmCatalog(
        ("notice", "friendly"), ("letter", "email"), (False, False), (True, True),
        (frozenset({"en"}), frozenset({"en"})),
    )  # fmt: skip
    rules = ContactRules(caps=(), first_contact_template="notice")
    fresh = eligibility(catalog, rules, debtor(), NOON_NY)
    assert fresh.mask.tolist() == [True, False]
    assert [(e.code, e.arm, e.until) for e in fresh.exclusions] == [
        ("first_contact", "friendly:email", None)
    ]
    other = debtor(history=calls(2, channel="email", template="friendly"))
    assert eligibility(catalog, rules, other, NOON_NY).mask.tolist() == [True, False]
    sent = debtor(history=calls(2, channel="letter", template="notice"))
    assert eligibility(catalog, rules, sent, NOON_NY).mask.tolist() == [True, True]


def test_marketing_needs_consent() -> None:
    offer = one_arm("offer", "email", marketing=True)
    result = eligibility(offer, ContactRules(caps=()), debtor(), NOON_NY)
    assert codes(result) == ["marketing_consent"] and result.next_allowed_at is None
    agreed = debtor(marketing_consent=True)
    assert eligibility(offer, ContactRules(caps=()), agreed, NOON_NY).mask[0]


def test_consent_opt_out_and_inactive_each_give_a_reason() -> None:
    catalog = ArmCatalog(
        ("friendly", "friendly", "friendly", "firm"), ("email", "sms", "voice", "email"),
        (False,) * 4, (True, True, True, False), (frozenset({"en"}),) * 4,
    )  # fmt: skip
    person = debtor(channels=frozenset({"email", "sms"}), opted_out=frozenset({"sms"}))
    result = eligibility(
        catalog, ContactRules(caps=()), person, datetime(2026, 11, 20, 23, tzinfo=NY)
    )
    assert result.mask.tolist() == [False] * 4
    assert [(e.arm, e.code) for e in result.exclusions] == [
        ("friendly:email", "quiet_hours"),
        ("friendly:sms", "opted_out"),
        ("friendly:sms", "quiet_hours"),
        ("friendly:voice", "no_consent"),
        ("friendly:voice", "quiet_hours"),
        ("firm:email", "inactive"),
        ("firm:email", "quiet_hours"),
    ]
    assert result.next_allowed_at == datetime(2026, 11, 21, 13, tzinfo=UTC)  # email, 08:00 EST
    assert eligibility(catalog, ContactRules(caps=()), person, NOON_NY).mask.tolist() == [
        True, False, False, False,
    ]  # fmt: skip


def test_now_in_any_zone_means_the_same_instant() -> None:
    rules, person = ContactRules(), debtor(history=calls(1, 2))
    in_utc = eligibility(one_arm(), rules, person, NOON_NY.astimezone(UTC))
    in_tokyo = eligibility(one_arm(), rules, person, NOON_NY.astimezone(ZoneInfo("Asia/Tokyo")))
    assert in_utc.mask.tolist() == in_tokyo.mask.tolist() == [True]


def test_batch_of_nobody_and_of_many() -> None:
    catalog, rules = one_arm(), MA_RULES
    assert batch_masks(catalog, rules, [], NOON_NY).shape == (0, 1)
    group = [debtor(jurisdiction=j, history=calls(1, 3, 6)) for j in ("MA", "NY", None)]
    assert batch_masks(catalog, rules, group, NOON_NY).tolist() == [[False], [True], [True]]


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd", "America"])
def test_unknown_time_zone_is_named(zone: str) -> None:
    with pytest.raises(UnknownTimezone, match=repr(zone).replace(".", r"\.")):
        eligibility(one_arm(), ContactRules(), debtor(zone), NOON_NY)
    with pytest.raises(ValueError, match="unknown time zone"):
        batch_masks(one_arm(), ContactRules(), [debtor(), debtor(zone)], NOON_NY)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Cap("fax", 1, 7.0), "cap channel must be one of email, sms"),
        (lambda: Cap("voice", -1, 7.0), "cap max must be a whole number"),
        (lambda: Cap("voice", 1.5, 7.0), "cap max must be a whole number"),  # type: ignore[arg-type]
        (lambda: Cap("voice", 7, 0.0), "cap days must be > 0"),
        (lambda: Cap("voice", 7, float("nan")), "cap days must be > 0"),
        (lambda: Cap("voice", 7, 1e9), "cap days must be > 0"),
        (lambda: ContactRules(quiet_start=time(21, tzinfo=UTC)), "without a tzinfo"),
        (
            lambda: ArmCatalog(("a", "b"), ("email",), (False,), (True,), (frozenset(),)),
            r"differ: \[2, 1, 1, 1, 1\]",
        ),
        (
            lambda: ArmCatalog(("a",), ("fax",), (False,), (True,), (frozenset(),)),
            r"unknown channels \['fax'\]",
        ),
        (
            lambda: ArmCatalog(
                ("a", "a"), ("sms", "sms"), (False,) * 2, (True,) * 2, (frozenset(),) * 2
            ),
            r"distinct .*\['a:sms'\]",
        ),
        (lambda: Contact(datetime(2026, 1, 1), "sms", "a"), "timezone-aware"),
        (
            lambda: eligibility(one_arm(), ContactRules(), debtor(), datetime(2026, 1, 1)),
            "timezone-aware",
        ),
    ],
)
def test_bad_settings_are_refused_with_a_reason(build: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()  # type: ignore[operator]
