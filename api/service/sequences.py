"""Why a sequence rule holds a decision back: the cadence (``too_soon``, ``max_touches``) and
each template's condition (``condition``, naming the clause that failed), beside the other
rules' reasons; and when waiting lifts them (bandit.sequence)."""

from __future__ import annotations

from datetime import datetime

from api.schemas import Reason
from api.service.preparation import Prepared, arm_catalog
from bandit.eligibility import eligibility
from bandit.sequence import cadence_block, condition_exclusions


def explain(
    p: Prepared, i: int, next_allowed_at: datetime | None
) -> tuple[list[Reason], datetime | None]:
    """Item i's sequence reasons, and the earliest time a send becomes possible given the
    other rules' ``next_allowed_at``: after ``too_soon`` lifts, when the other rules allow
    it then (None when ``max_touches`` holds, which waiting never lifts)."""
    at, history = p.times[i], p.histories[i]
    arms = p.arms
    reasons = [
        Reason(code=e.code, arm=e.arm, channel=e.channel, detail=e.detail)
        for e in condition_exclusions(
            [a.key for a in arms], [a.channel for a in arms], [a.when for a in arms],
            history, p.attributes[i],
        )
    ]  # fmt: skip
    block = cadence_block(p.cfg.cadence, p.previous[i], history, at)
    if block is None:
        return reasons, next_allowed_at
    code, detail, until = block
    reasons.append(Reason(code=code, detail=detail))
    if until is None:
        return reasons, None
    then = eligibility(arm_catalog(p.arms), p.cfg.rules, p.debtors[i], until)
    return reasons, until if then.mask.any() else then.next_allowed_at
