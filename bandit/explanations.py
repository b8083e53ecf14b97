"""Eligibility for one debtor with its reasons: which arms may be sent now, a sentence for
every rule that excludes each other arm, when time alone lifts it, and, when nothing is
eligible, the earliest moment waiting makes an arm eligible (quiet hours and caps together).
Pure: ``now`` is an argument."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from bandit.addresses import CALL_CHANNEL, conversation_until
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

Times = Callable[[Cap], list[int]]  # the sorted contact times a cap counts


def _wait(
    rules: ContactRules, zone: ZoneInfo, times: Times, caps: list[Cap], now: int
) -> int | None:
    """Earliest instant >= ``now`` outside quiet hours and within every cap (None: never)."""
    t = now
    for _ in range(MAX_STEPS):
        opens = next_outside_quiet_hours(rules, zone, instant(t))
        if opens is None:
            return None
        start = t = micros(opens)
        for cap in caps:
            free = free_at(times(cap), cap, t)
            if free is None:
                return None
            t = free
        if t == start:
            return t
    return None


def _cap_reasons(caps: list[Cap], times: Times, channel: str, now: int) -> list[Reason]:
    """A frequency_cap reason for each cap that a send on ``channel`` now would break."""
    reasons: list[Reason] = []
    for cap in caps:
        column = times(cap)
        count = peak(column, cap.window_us, now)
        if count < cap.max:
            continue
        free = free_at(column, cap, now)
        until = None if free is None else instant(free)
        what = f"{channel} contacts" if cap.channel != ALL_CHANNELS else "contacts on all channels"
        where = f" ({cap.jurisdiction})" if cap.jurisdiction else ""
        where += " about this debt" if cap.per == "debt" else ""
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
        "paused_guardrail": f"{key} was paused by a guardrail; resuming {template!r} lifts it",
        "no_consent": f"the debtor has no consent or address for {channel}",
        "opted_out": f"the debtor opted out of {channel}",
        "marketing_consent": f"{template!r} is marketing and the debtor has no marketing consent",
        "locale_missing": f"{key} has no rendition in {debtor.locale!r} {other}",
        "first_contact": f"the first-contact template {first!r} has not been sent to the debtor",
        "address_opted_out": f"every {channel} address given for the debtor has opted out",
        "workplace_email": "the email address is at the debtor's workplace and the debtor has "
        "not consented to email there (attributes.workplace_email_consent)",
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
    every = contact_times([(c.channel, micros(c.at)) for c in debtor.history])
    debt = contact_times([(c.channel, micros(c.at)) for c in debtor.debt_history])

    def times(cap: Cap) -> list[int]:
        return (debt if cap.per == "debt" else every).get(cap.channel, [])

    caps = {c: [cap for cap in rules.caps if cap.applies(c, debtor.jurisdiction)] for c in CHANNELS}
    talked = conversation_until(debtor.conversations, debtor.debt_id, instant(now_us))
    after: Reason | None = None
    if talked is not None:
        detail = (
            "a telephone conversation about this debt took place in the last 7 days; "
            f"no call about it before {talked.isoformat()}"
        )
        after = ("after_conversation", detail, talked)
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
        found += [after] if after is not None and fails["after_conversation"][0, k] else []
        exclusions.extend(Exclusion(code, key, channel, d, until) for code, d, until in found)
        if found and all(until is not None for _, _, until in found):
            waiting.add(channel)
    next_at: datetime | None = None
    if not mask.any():
        waits = [
            _wait(
                rules,
                zone,
                times,
                caps[c],
                max(now_us, micros(talked)) if talked and c == CALL_CHANNEL else now_us,
            )
            for c in sorted(waiting)
        ]
        known = [w for w in waits if w is not None]
        next_at = instant(min(known)) if known else None
    fallback = rules.fallback_locale
    locales = tuple(resolve_locale(debtor.locale, a, fallback) for a in catalog.locales)
    return Eligibility(np.asarray(mask, dtype=np.bool_), locales, tuple(exclusions), next_at)
