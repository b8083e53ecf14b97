"""Eligibility: which arms may be sent to a debtor now, why each other may not, and when.

PRODUCT.md "Constraints the decision must respect" as (N, K) masks over arms. Pure: ``now`` is
an argument; times are compared as whole microseconds since the epoch, so window edges are exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from numpy.typing import NDArray

from bandit.caps import MAX_CAP_DAYS, Cap, caps_ok, contact_times, free_at, peak
from bandit.channels import ALL_CHANNELS, CHANNELS
from bandit.vocabulary import jurisdiction as place
from bandit.vocabulary import resolve_locale

__all__ = ["ALL_CHANNELS", "CHANNELS", "MAX_CAP_DAYS", "Cap"]

BoolArray = NDArray[np.bool_]
Reason = tuple[str, str, "datetime | None"]  # (code, detail, until)

CODES: tuple[str, ...] = (
    "inactive", "no_consent", "opted_out", "marketing_consent",
    "locale_missing", "first_contact", "quiet_hours", "frequency_cap",
)  # fmt: skip
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_DAY = timedelta(days=1)
_MAX_STEPS = 64


def _us(at: datetime) -> int:
    """Whole microseconds since the epoch of an aware datetime."""
    if at.utcoffset() is None:
        raise ValueError(f"times must be timezone-aware, got {at.isoformat()} without a zone")
    return (at - _EPOCH) // _US


def _at(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True)
class ContactRules:
    """A campaign's contact rules. No sends while the debtor's local wall time is in
    [quiet_start, quiet_end), wrapping midnight when start > end; start == end: no quiet hours."""

    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)
    caps: tuple[Cap, ...] = (Cap("voice", 7, 7.0),)
    first_contact_template: str | None = None
    fallback_locale: str | None = None

    def __post_init__(self) -> None:
        if self.quiet_start.tzinfo is not None or self.quiet_end.tzinfo is not None:
            raise ValueError("quiet hours are local wall times: give them without a tzinfo")

    def is_quiet(self, local: time) -> bool:
        """Whether a (naive) local wall time falls in quiet hours."""
        start, end = self.quiet_start, self.quiet_end
        if start <= end:
            return start <= local < end
        return local >= start or local < end


@dataclass(frozen=True)
class ArmCatalog:
    """The campaign's K arms, column-wise: template, channel, purpose is marketing, active (not
    paused or retired), and the locales with a rendition for the arm's (template, channel)."""

    templates: tuple[str, ...]
    channels: tuple[str, ...]
    marketing: tuple[bool, ...]
    active: tuple[bool, ...]
    locales: tuple[frozenset[str], ...]

    def __post_init__(self) -> None:
        columns = (self.templates, self.channels, self.marketing, self.active, self.locales)
        if len({len(column) for column in columns}) > 1:
            lengths = [len(column) for column in columns]
            raise ValueError(f"templates, channels, marketing, active, locales differ: {lengths}")
        unknown = sorted(set(self.channels) - set(CHANNELS))
        if unknown:
            raise ValueError(f"unknown channels {unknown}: use {', '.join(CHANNELS)}")
        repeated = sorted({key for key in self.keys if self.keys.count(key) > 1})
        if repeated:
            raise ValueError(f"arms must be distinct (template, channel) pairs: {repeated} repeat")

    @property
    def keys(self) -> tuple[str, ...]:
        """``template:channel`` per arm; (K,)."""
        return tuple(f"{t}:{c}" for t, c in zip(self.templates, self.channels, strict=True))


@dataclass(frozen=True)
class Contact:
    """One past send to a debtor; ``at`` is aware."""

    at: datetime
    channel: str
    template: str

    def __post_init__(self) -> None:
        _us(self.at)


@dataclass(frozen=True)
class Debtor:
    """What eligibility needs to know about one debtor, including past sends (any order)."""

    channels: frozenset[str]
    timezone: str
    locale: str
    marketing_consent: bool = False
    opted_out: frozenset[str] = frozenset()
    jurisdiction: str | None = None
    history: tuple[Contact, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "jurisdiction", place(self.jurisdiction))  # as caps say it


@dataclass(frozen=True)
class Exclusion:
    """One reason one arm may not be sent; ``until`` is when time alone lifts it (None: never)."""

    code: str
    arm: str
    channel: str
    detail: str
    until: datetime | None


@dataclass(frozen=True, eq=False)
class Eligibility:
    """``mask`` (K,) True where an arm may be sent now; ``locales`` (K,) the locale to render;
    every reason for every excluded arm; when nothing is eligible, the earliest time waiting
    makes some arm eligible (None if the mask is non-empty or waiting never helps)."""

    mask: BoolArray
    locales: tuple[str | None, ...]
    exclusions: tuple[Exclusion, ...]
    next_allowed_at: datetime | None


class UnknownTimezone(ValueError):
    """A debtor's time zone is not an IANA name zoneinfo knows."""


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or UnknownTimezone naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        message = f"unknown time zone {name!r}: use an IANA name such as 'America/New_York'"
        raise UnknownTimezone(message) from error


def _transition(zone: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The first whole second in (lo, hi] whose UTC offset differs from lo's (bisection)."""
    before = lo.astimezone(zone).utcoffset()
    a, b = math.floor(lo.timestamp()), math.ceil(hi.timestamp())
    while b - a > 1:
        mid = (a + b) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == before:
            a = mid
        else:
            b = mid
    return datetime.fromtimestamp(b, UTC)


def next_outside_quiet_hours(rules: ContactRules, zone: ZoneInfo, at: datetime) -> datetime | None:
    """Earliest instant >= ``at`` whose local wall time is outside quiet hours, in UTC.

    Walks stretches of constant UTC offset (wall time moves linearly inside one), so the end of
    quiet hours inside a DST gap is the transition and a repeated hour is quiet twice.
    """
    t = at.astimezone(UTC)
    for _ in range(_MAX_STEPS):
        local = t.astimezone(zone)
        if not rules.is_quiet(local.time()):
            return t
        wall = local.replace(tzinfo=None)
        end = t + (datetime.combine(wall.date(), rules.quiet_end) - wall) % _DAY
        if end.astimezone(zone).utcoffset() != local.utcoffset():
            end = _transition(zone, t, end)
        t = max(end, t + _US)
    return None


def _wait(
    rules: ContactRules, zone: ZoneInfo, times: dict[str, list[int]], caps: list[Cap], now: int
) -> int | None:
    """Earliest instant >= ``now`` outside quiet hours and within every cap (None: never)."""
    t = now
    for _ in range(_MAX_STEPS):
        opens = next_outside_quiet_hours(rules, zone, _at(t))
        if opens is None:
            return None
        start = t = _us(opens)
        for cap in caps:
            free = free_at(times.get(cap.channel, []), cap, t)
            if free is None:
                return None
            t = free
        if t == start:
            return t
    return None


def _bools(values: Iterable[object], rows: int, columns: int) -> BoolArray:
    """A (rows, columns) bool array from a flat or nested iterable."""
    return np.array(list(values), dtype=np.bool_).reshape(rows, columns)


def _failures(
    catalog: ArmCatalog, rules: ContactRules, debtors: Sequence[Debtor], now: int
) -> dict[str, BoolArray]:
    """(N, K) per rule code (``CODES``): True where that rule excludes the arm at ``now``."""
    n, k = len(debtors), len(catalog.templates)
    fails = _rule_failures(catalog, rules, debtors, now)
    return {code: np.broadcast_to(fails[code], (n, k)) for code in CODES}


def _rule_failures(
    catalog: ArmCatalog, rules: ContactRules, debtors: Sequence[Debtor], now: int
) -> dict[str, BoolArray]:
    """``_failures`` before broadcasting: each rule's array is (N, K), (1, K) or (N, 1)."""
    n, k = len(debtors), len(catalog.templates)
    arm_channel = np.array([CHANNELS.index(c) for c in catalog.channels], dtype=np.intp)

    def by_channel(test: Callable[[Debtor, str], bool]) -> BoolArray:
        rows = ([test(d, c) for c in CHANNELS] for d in debtors)
        return _bools(rows, n, len(CHANNELS))[:, arm_channel]

    def row(values: Iterable[bool]) -> BoolArray:
        return _bools(values, 1, k)

    def column(values: Iterable[bool]) -> BoolArray:
        return _bools(values, n, 1)

    utc_now, first = _at(now), rules.first_contact_template
    zones = {z: utc_now.astimezone(load_zone(z)).time() for z in {d.timezone for d in debtors}}
    missing = {
        loc: [resolve_locale(loc, a, rules.fallback_locale) is None for a in catalog.locales]
        for loc in {d.locale for d in debtors}
    }
    fails = {
        "inactive": ~row(catalog.active),
        "no_consent": by_channel(lambda d, c: c not in d.channels),
        "opted_out": by_channel(lambda d, c: c in d.opted_out),
        "marketing_consent": row(catalog.marketing) & ~column(d.marketing_consent for d in debtors),
        "locale_missing": _bools((missing[d.locale] for d in debtors), n, k),
        "first_contact": row(first is not None and t != first for t in catalog.templates)
        & ~column(any(c.template == first for c in d.history) for d in debtors),
        "quiet_hours": column(rules.is_quiet(zones[d.timezone]) for d in debtors),
        "frequency_cap": ~caps_ok(
            rules.caps,
            [[(c.channel, (c.at - _EPOCH) // _US) for c in d.history] for d in debtors],
            [d.jurisdiction for d in debtors],
            now,
        )[:, arm_channel],
    }
    return fails


def batch_masks(
    catalog: ArmCatalog, rules: ContactRules, debtors: Sequence[Debtor], now: datetime
) -> BoolArray:
    """(N, K) masks, row i equal to ``eligibility(catalog, rules, debtors[i], now).mask``, in
    one vectorised pass over debtors, arms and contacts, without reasons."""
    excluded = np.zeros((len(debtors), len(catalog.templates)), dtype=np.bool_)
    for fails in _rule_failures(catalog, rules, debtors, _us(now)).values():
        excluded |= fails  # broadcasts rows (1, K) and columns (N, 1)
    return ~excluded


def _cap_reasons(
    caps: list[Cap], times: dict[str, list[int]], channel: str, now: int
) -> list[Reason]:
    """A frequency_cap reason for each cap that a send on ``channel`` now would break."""
    reasons: list[Reason] = []
    for cap in caps:
        column = times.get(cap.channel, [])
        count = peak(column, cap.window_us, now)
        if count < cap.max:
            continue
        free = free_at(column, cap, now)
        until = None if free is None else _at(free)
        what = f"{channel} contacts" if cap.channel != ALL_CHANNELS else "contacts on all channels"
        where = f" ({cap.jurisdiction})" if cap.jurisdiction else ""
        when = "this cap allows none" if until is None else f"next at {until.isoformat()}"
        detail = f"{count} of {cap.max} {what} allowed in {cap.days:g} days{where} already made"
        reasons.append(("frequency_cap", f"{detail}; {when}", until))
    return reasons


def _explain(code: str, key: str, debtor: Debtor, rules: ContactRules) -> str:
    """A sentence for a reason that waiting does not lift."""
    template, _, channel = key.rpartition(":")
    fallback = rules.fallback_locale
    other = f"nor in fallback {fallback!r}" if fallback else "and no fallback locale is set"
    first = rules.first_contact_template
    return {
        "inactive": f"template {template!r} is paused or retired",
        "no_consent": f"the debtor has no consent or address for {channel}",
        "opted_out": f"the debtor opted out of {channel}",
        "marketing_consent": f"{template!r} is marketing and the debtor has no marketing consent",
        "locale_missing": f"{key} has no rendition in {debtor.locale!r} {other}",
        "first_contact": f"the first-contact template {first!r} has not been sent to the debtor",
    }[code]


def eligibility(
    catalog: ArmCatalog, rules: ContactRules, debtor: Debtor, now: datetime
) -> Eligibility:
    """Which arms may be sent to ``debtor`` at ``now``, every reason for the others, and the
    earliest time waiting makes one eligible when none is."""
    now_us = _us(now)
    fails = _failures(catalog, rules, [debtor], now_us)
    mask = ~np.logical_or.reduce([fails[code][0] for code in CODES], axis=0)
    zone = load_zone(debtor.timezone)
    local = _at(now_us).astimezone(zone)
    quiet_until = next_outside_quiet_hours(rules, zone, local)
    window = f"{rules.quiet_start:%H:%M} to {rules.quiet_end:%H:%M}"
    when = "never" if quiet_until is None else quiet_until.isoformat()
    detail = f"{local:%H:%M} in {debtor.timezone} is within quiet hours {window}; next at {when}"
    quiet: Reason = ("quiet_hours", detail, quiet_until)
    times = contact_times([(c.channel, _us(c.at)) for c in debtor.history])
    caps = {c: [cap for cap in rules.caps if cap.applies(c, debtor.jurisdiction)] for c in CHANNELS}
    capped = {c: _cap_reasons(caps[c], times, c, now_us) for c in set(catalog.channels)}
    exclusions: list[Exclusion] = []
    waiting: set[str] = set()
    for k, key in enumerate(catalog.keys):
        channel = catalog.channels[k]
        found: list[Reason] = [
            (c, _explain(c, key, debtor, rules), None) for c in CODES[:-2] if fails[c][0, k]
        ]
        found += [quiet] if fails["quiet_hours"][0, k] else []
        found += capped[channel] if fails["frequency_cap"][0, k] else []
        exclusions.extend(Exclusion(code, key, channel, d, until) for code, d, until in found)
        if found and all(until is not None for _, _, until in found):
            waiting.add(channel)
    next_at: datetime | None = None
    if not mask.any():
        waits = [_wait(rules, zone, times, caps[c], now_us) for c in sorted(waiting)]
        known = [w for w in waits if w is not None]
        next_at = _at(min(known)) if known else None
    fallback = rules.fallback_locale
    locales = tuple(resolve_locale(debtor.locale, a, fallback) for a in catalog.locales)
    return Eligibility(np.asarray(mask, dtype=np.bool_), locales, tuple(exclusions), next_at)
