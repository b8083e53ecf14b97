"""Eligibility as (N, K) masks over arms: one boolean array per rule (``bandit.rules.CODES``),
for N debtors at once, vectorised over debtors, arms and contacts. Pure: ``now`` is an
argument; times are compared as whole microseconds since the epoch, so window edges are exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import numpy as np

from bandit.addresses import CALL_CHANNEL, conversation_until, eligible_addresses
from bandit.caps import caps_ok
from bandit.channels import CHANNELS
from bandit.days import EPOCH, MICROSECOND, instant, micros
from bandit.quiet_hours import load_zone
from bandit.rules import CODES, ArmCatalog, BoolArray, ContactRules, Debtor
from bandit.vocabulary import resolve_locale


def _bools(values: Iterable[object], rows: int, columns: int) -> BoolArray:
    """A (rows, columns) bool array from a flat or nested iterable."""
    return np.array(list(values), dtype=np.bool_).reshape(rows, columns)


def rule_failures(
    catalog: ArmCatalog, rules: ContactRules, debtors: Sequence[Debtor], now: int
) -> dict[str, BoolArray]:
    """Per rule code (``CODES``), True where that rule excludes the arm at ``now`` (whole
    microseconds since the epoch); each array is (N, K), (1, K) or (N, 1)."""
    n, k = len(debtors), len(catalog.templates)
    arm_channel = np.array([CHANNELS.index(c) for c in catalog.channels], dtype=np.intp)

    def by_channel(test: Callable[[Debtor, str], bool]) -> BoolArray:
        rows = ([test(d, c) for c in CHANNELS] for d in debtors)
        return _bools(rows, n, len(CHANNELS))[:, arm_channel]

    def row(values: Iterable[bool]) -> BoolArray:
        return _bools(values, 1, k)

    def column(values: Iterable[bool]) -> BoolArray:
        return _bools(values, n, 1)

    utc_now, first = instant(now), rules.first_contact_template
    zones = {z: utc_now.astimezone(load_zone(z)).time() for z in {d.timezone for d in debtors}}
    missing = {
        loc: [resolve_locale(loc, a, rules.fallback_locale) is None for a in catalog.locales]
        for loc in {d.locale for d in debtors}
    }
    return {
        "inactive": ~row(catalog.active) & ~row(catalog.guarded),
        "paused_guardrail": row(catalog.guarded),
        "no_consent": by_channel(lambda d, c: c not in d.channels),
        "opted_out": by_channel(lambda d, c: c in d.opted_out),
        "marketing_consent": row(catalog.marketing) & ~column(d.marketing_consent for d in debtors),
        "locale_missing": _bools((missing[d.locale] for d in debtors), n, k),
        "first_contact": row(first is not None and t != first for t in catalog.templates)
        & ~column(any(c.template == first for c in d.history) for d in debtors),
        "address_opted_out": by_channel(
            lambda d, c: (
                bool(d.addresses) and eligible_addresses(c, d.address_map, d.opted_addresses) == ()
            )
        ),
        "workplace_email": by_channel(lambda d, c: c == "email" and d.workplace_email),
        "quiet_hours": column(rules.is_quiet(zones[d.timezone]) for d in debtors),
        "frequency_cap": (
            _capped(rules, debtors, now, "debtor") | _capped(rules, debtors, now, "debt")
        )[:, arm_channel],
        "after_conversation": by_channel(
            lambda d, c: (
                c == CALL_CHANNEL
                and bool(d.conversations)
                and conversation_until(d.conversations, d.debt_id, utc_now) is not None
            )
        ),
    }


def _capped(rules: ContactRules, debtors: Sequence[Debtor], now: int, per: str) -> BoolArray:
    """(N, C) where a contact on the channel now would break a cap counted ``per`` debtor or
    per debt (then only the contacts about the decision's debt count)."""
    caps = [cap for cap in rules.caps if cap.per == per]
    if not caps:
        return np.zeros((len(debtors), len(CHANNELS)), dtype=np.bool_)
    return ~caps_ok(
        caps,
        [
            [
                (c.channel, (c.at - EPOCH) // MICROSECOND)
                for c in (d.history if per == "debtor" else d.debt_history)
            ]
            for d in debtors
        ],
        [d.jurisdiction for d in debtors],
        now,
    )


def failures(
    catalog: ArmCatalog, rules: ContactRules, debtors: Sequence[Debtor], now: int
) -> dict[str, BoolArray]:
    """``rule_failures`` broadcast to (N, K) each."""
    n, k = len(debtors), len(catalog.templates)
    fails = rule_failures(catalog, rules, debtors, now)
    return {code: np.broadcast_to(fails[code], (n, k)) for code in CODES}


def batch_masks(
    catalog: ArmCatalog, rules: ContactRules, debtors: Sequence[Debtor], now: datetime
) -> BoolArray:
    """(N, K) masks, row i equal to ``eligibility(catalog, rules, debtors[i], now).mask``, in
    one vectorised pass over debtors, arms and contacts, without reasons."""
    fails = rule_failures(catalog, rules, debtors, micros(now))
    return masks_of(fails, len(debtors), len(catalog.templates))


def masks_of(fails: dict[str, BoolArray], n: int, k: int) -> BoolArray:
    """(N, K) masks from ``rule_failures``: no rule excludes the arm."""
    excluded = np.zeros((n, k), dtype=np.bool_)
    for fail in fails.values():
        excluded |= fail  # broadcasts rows (1, K) and columns (N, 1)
    return ~excluded


def row_failures(fails: dict[str, BoolArray], n: int, k: int, row: int) -> dict[str, BoolArray]:
    """Debtor ``row``'s failures (1, K) per rule code, from ``rule_failures`` of N debtors."""
    return {code: np.broadcast_to(fails[code], (n, k))[row : row + 1] for code in CODES}
