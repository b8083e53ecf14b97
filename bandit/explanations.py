"""Eligibility for one debtor with its reasons: which arms may be sent now, a sentence for
every rule that excludes each other arm, when time alone lifts it, and, when nothing is
eligible, the earliest moment waiting makes an arm eligible (quiet hours and caps together).
Pure: ``now`` is an argument."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from bandit.caps import Cap, contact_times, free_at, peak
from bandit.channels import ALL_CHANNELS, CHANNELS
from bandit.days import instant, micros
from bandit.masks import failures
from bandit.quiet_hours import MAX_STEPS, load_zone, next_outside_quiet_hours
from bandit.rules import (
    CODES,
    TIME_CODES,
    ArmCatalog,
    BoolArray,
    ContactRules,
    Debtor,
    Eligibility,
    Exclusion,
    Reason,
)
from bandit.vocabulary import resolve_locale


def _wait(
    rules: ContactRules, zone: ZoneInfo, times: dict[str, list[int]], caps: list[Cap], now: int
) -> int | None:
    """Earliest instant >= ``now`` outside quiet hours and within every cap (None: never)."""
    t = now
    for _ in range(MAX_STEPS):
        opens = next_outside_quiet_hours(rules, zone, instant(t))
        if opens is None:
            return None
        start = t = micros(opens)
        for cap in caps:
            free = free_at(times.get(cap.channel, []), cap, t)
            if free is None:
                return None
            t = free
        if t == start:
            return t
    return None


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
        until = None if free is None else instant(free)
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
    catalog: ArmCatalog,
    rules: ContactRules,
    debtor: Debtor,
    now: datetime,
    fails: dict[str, BoolArray] | None = None,
) -> Eligibility:
    """Which arms may be sent to ``debtor`` at ``now``, every reason for the others, and the
    earliest time waiting makes one eligible when none is. ``fails``: the rules' failures
    (1, K) per code for this debtor at ``now`` when already known (``bandit.masks``)."""
    now_us = micros(now)
    if fails is None:
        fails = failures(catalog, rules, [debtor], now_us)
    mask = ~np.logical_or.reduce([fails[code][0] for code in CODES], axis=0)
    zone = load_zone(debtor.timezone)
    local = instant(now_us).astimezone(zone)
    quiet_until = next_outside_quiet_hours(rules, zone, local)
    window = f"{rules.quiet_start:%H:%M} to {rules.quiet_end:%H:%M}"
    when = "never" if quiet_until is None else quiet_until.isoformat()
    detail = f"{local:%H:%M} in {debtor.timezone} is within quiet hours {window}; next at {when}"
    quiet: Reason = ("quiet_hours", detail, quiet_until)
    times = contact_times([(c.channel, micros(c.at)) for c in debtor.history])
    caps = {c: [cap for cap in rules.caps if cap.applies(c, debtor.jurisdiction)] for c in CHANNELS}
    capped = {c: _cap_reasons(caps[c], times, c, now_us) for c in set(catalog.channels)}
    exclusions: list[Exclusion] = []
    waiting: set[str] = set()
    lasting = [code for code in CODES if code not in TIME_CODES]
    for k, key in enumerate(catalog.keys):
        channel = catalog.channels[k]
        found: list[Reason] = [
            (c, _explain(c, key, debtor, rules), None) for c in lasting if fails[c][0, k]
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
        next_at = instant(min(known)) if known else None
    fallback = rules.fallback_locale
    locales = tuple(resolve_locale(debtor.locale, a, fallback) for a in catalog.locales)
    return Eligibility(np.asarray(mask, dtype=np.bool_), locales, tuple(exclusions), next_at)
