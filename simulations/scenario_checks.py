"""Checks of a scenario that need more than one field (``Scenario``'s validator runs them):
keys exist, shares add up, funnels are ordered, and the version 2 fields have [population]."""

from __future__ import annotations

from bandit.outcomes import OUTCOMES, TRACKED_OUTCOMES
from bandit.segment_keys import attributes
from bandit.sequence import HISTORY_ATTRIBUTES
from simulations.scenario import DEFAULT, Scenario, rate_for


def cross_checks(sc: Scenario) -> list[str]:
    """Checks that need more than one field: keys exist, shares add up, funnels are ordered."""
    problems: list[str] = population_checks(sc) + segment_by_checks(sc)
    keys = sc.segment_keys
    known = set(keys)
    seen: set[str] = set()
    for i, seg in enumerate(sc.segments):
        if seg.key in seen:
            problems.append(f"segments[{i}].key: {seg.key!r} appears twice")
        seen.add(seg.key)
    total = sum(s.share for s in sc.segments)
    if abs(total - 1.0) > 1e-6:
        problems.append(f"segments: shares sum to {total:.6g}; they must sum to 1")
    arm_keys: set[str] = set()
    for i, arm in enumerate(sc.arms):
        if arm.key in arm_keys:
            problems.append(f"arms[{i}]: arm {arm.key!r} appears twice")
        arm_keys.add(arm.key)
        tracked = TRACKED_OUTCOMES[arm.channel]
        for o, field in enumerate((*OUTCOMES, "amount")):
            rates: dict[str, float] = getattr(arm, field)
            for key in rates:
                if key != DEFAULT and key not in known:
                    problems.append(f"arms[{i}].{field}: {key!r} is not a segment key")
            if field != "amount" and rates and not tracked[o]:
                problems.append(f"arms[{i}].{field}: {arm.channel} does not track {field}s")
            if rates and DEFAULT not in rates and (missing := known - set(rates)):
                problems.append(
                    f"arms[{i}].{field}: no rate for segment {sorted(missing)[0]!r} and no "
                    f"'{DEFAULT}'"
                )
        if tracked[0] and arm.click and arm.open:
            above = [k for k in keys if rate_for(arm.click, k, 0.0) > rate_for(arm.open, k, 0.0)]
            if above:
                problems.append(f"arms[{i}].click: above the open rate in segment {above[0]!r}")
    window = sc.campaign.windows_days.pay
    longest = max([sc.delay.mean_days, *sc.delay.by_channel.values()])
    if sc.delay.distribution == "fixed" and longest >= window:
        problems.append(
            f"delay: a fixed delay of {longest:g} days never lands inside the {window}-day pay window"
        )
    champion = sc.campaign.champion
    if champion is not None and champion not in arm_keys:
        problems.append(f"campaign.champion: {champion!r} is not an arm (template:channel)")
    for i, drift in enumerate(sc.drift):
        if drift.arm not in arm_keys:
            problems.append(f"drift[{i}].arm: {drift.arm!r} is not an arm (template:channel)")
        if drift.segment is not None and drift.segment not in known:
            problems.append(f"drift[{i}].segment: {drift.segment!r} is not a segment key")
        if drift.at_day >= sc.days:
            problems.append(f"drift[{i}].at_day: day {drift.at_day} is past the last day")
    return problems


def segment_by_checks(sc: Scenario) -> list[str]:
    """``[campaign] segment_by`` names history attributes, or attributes every segment key has
    (``risk`` of ``risk=low``: already in the segment), each once."""
    keys = sc.segment_keys
    debtor = set.intersection(*(set(attributes(k)) for k in keys)) - set(HISTORY_ATTRIBUTES)
    problems: list[str] = []
    for i, name in enumerate(sc.campaign.segment_by):
        if name in sc.campaign.segment_by[:i]:
            problems.append(f"campaign.segment_by[{i}]: {name!r} appears twice")
        elif name not in HISTORY_ATTRIBUTES and name not in debtor:
            allowed = f"({', '.join(sorted(debtor))})" if debtor else "(they have none)"
            problems.append(
                f"campaign.segment_by[{i}]: {name!r} is neither a history attribute "
                f"({', '.join(HISTORY_ATTRIBUTES)}) nor an attribute of every segment key "
                f"{allowed}"
            )
    return problems


def population_checks(sc: Scenario) -> list[str]:
    """[population] replaces daily_volume; the version 2 fields need it."""
    if sc.population is None:
        problems = [] if sc.daily_volume else ["daily_volume: give daily_volume or [population]"]
        if sc.campaign.history_by:  # attributes of the segment keys alone change nothing
            problems.append("campaign.segment_by: needs [population] (debtors who stay)")
        v2 = ("buckets", "min_days_between", "max_touches", "caps", "guardrails")
        for field in v2:
            if getattr(sc.campaign, field) not in (None, [], {}):
                problems.append(f"campaign.{field}: needs [population] (debtors who stay)")
        for i, arm in enumerate(sc.arms):
            for field in ("opt_out", "touch_factor", "after", "when"):
                if getattr(arm, field):
                    problems.append(f"arms[{i}].{field}: needs [population] (debtors who stay)")
        return problems
    problems = []
    if sc.daily_volume is not None:
        problems.append("daily_volume: [population] replaces daily_volume; give one of them")
    if sc.drift:
        problems.append("drift: not simulated with [population] yet")
    for name in sc.campaign.buckets:
        if name not in sc.campaign.segment_by:
            problems.append(f"campaign.buckets.{name}: {name} is not in segment_by")
    for i, arm in enumerate(sc.arms):
        for key in arm.opt_out:
            if key != DEFAULT and key not in sc.segment_keys:
                problems.append(f"arms[{i}].opt_out: {key!r} is not a segment key")
    return problems
