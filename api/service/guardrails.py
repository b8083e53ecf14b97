"""Guardrails: when an event adds to an arm's guarded outcome, check the arm's guardrails in the
event's transaction and stop the arm when one is breached (PRODUCT.md "Guardrails").

Checked on arrival, never on a timer: the arm's row is locked first (templates_store.guardrails
.lock_arm), so of two transactions adding outcomes to one arm the later one counts both and
cannot miss the breach. The first-contact and control templates are never paused (that would
block every new debtor, or the lift measurement): a breach of theirs is logged as a flag. The
figures of each arm (outcome, sends, count, p_exceed) for the arms statistics, the dashboard
and the audit come from here too."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlmodel import Session

from api.service.campaigns import CampaignConfig
from api.service.event_targets import Lookups
from bandit.guardrails import Guardrail, Reading, interval, readings, worst
from templates_store import guardrails as store
from templates_store.catalog import ArmInfo


def check(
    session: Session, known: Lookups, guarded: Iterable[tuple[int, int]], now: datetime
) -> None:
    """Check the guardrails of each (campaign, arm) whose evidence grew, in arm order (locks
    are taken in one order by every writer); pause or flag the breached ones."""
    for campaign_id, arm_id in sorted(set(guarded)):
        cfg = known.of_id(campaign_id)
        if not cfg.guardrails:
            continue
        state = store.lock_arm(session, arm_id=arm_id)
        if state.paused_at is not None:
            continue
        found = _readings(session, cfg, arm_id).get(arm_id, [])
        breached = [r for r in found if r.breached]
        if not breached:
            continue
        arm = next(
            a for a in known.catalog.campaign_by_id(session, campaign_id).arms if a.arm_id == arm_id
        )
        if arm.template in cfg.protected_templates:
            for reading in breached:
                store.flag(session, state=state, at=now, **_figures(reading))
            continue
        chosen = worst(breached)
        assert chosen is not None
        store.pause(session, state=state, at=now, **_figures(chosen))


def _figures(reading: Reading) -> dict[str, Any]:
    return {
        "outcome": reading.outcome,
        "max_rate": reading.max_rate,
        "sends": reading.sends,
        "count": reading.count,
        "p_exceed": reading.p_exceed,
    }


def _readings(
    session: Session, cfg: CampaignConfig, arm_id: int | None = None
) -> dict[int, list[Reading]]:
    rails = cfg.guardrails
    found = store.evidence(
        session, campaign_id=cfg.id, outcomes=[r.outcome for r in rails], arm_id=arm_id
    )
    return {arm: readings(rails, sends, counts) for arm, (sends, counts) in found.items()}


def arm_figures(
    session: Session, cfg: CampaignConfig, arms: Iterable[ArmInfo]
) -> dict[int, dict[str, Any]]:
    """Per arm, the ``guardrail`` of the arms statistics: the reading closest to (or
    past) its limit, with the rate's 95% interval and every guardrail's reading; the latest
    pause or flag when there is one. Empty without guardrails."""
    if not cfg.guardrails:
        return {}
    found = _readings(session, cfg)
    latest: dict[int, store.LifecycleRow] = {}
    for row in store.lifecycle(session, campaign_id=cfg.id):
        latest[row.arm_id] = row
    rails = {r.outcome: r for r in cfg.guardrails}
    out: dict[int, dict[str, Any]] = {}
    for arm in arms:
        mine = found.get(arm.arm_id) or readings(cfg.guardrails, 0, {})
        chosen = worst(mine)
        assert chosen is not None
        out[arm.arm_id] = {
            **_figures(chosen),
            "breached": chosen.breached,
            "interval": _interval(rails[chosen.outcome], chosen),
            "all": [{**_figures(r), "breached": r.breached} for r in mine],
            "last_action": _action(latest.get(arm.arm_id)),
        }
    return out


def _interval(rail: Guardrail, reading: Reading) -> list[float]:
    return list(interval(rail, reading.sends, reading.count))


def _action(row: store.LifecycleRow | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "action": row.action,
        "at": row.at,
        "outcome": row.outcome,
        "max_rate": row.max_rate,
        "sends": row.sends,
        "count": row.count,
        "p_exceed": row.p_exceed,
    }


def latest_pauses(rows: Iterable[store.LifecycleRow]) -> dict[int, dict[str, Any]]:
    """Per arm, the figures of its latest guardrail pause (for the audit of a decision made
    while it held)."""
    return {
        row.arm_id: found for row in rows if (found := _action(row)) and row.action == store.PAUSED
    }
