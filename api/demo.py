"""`dunning-bandit demo`: a multilingual campaign learning from simulated debtors.

Debtors from a built-in scenario (``baseline``; ``send-time`` adds its send slots) go through
the real HTTP application (routes, service, store, bandit: the path production requests take)
over several simulated days; their opens, clicks and payments arrive later, after delays drawn
from the scenario from the send time, as events (with slots, at the true rates times the
scenario's factor of the chosen window on the arm's channel).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.app import create_app
from api.demo_content import LOCALES, rendition
from api.settings import Settings
from bandit.stats import OUTCOMES, PAY
from simulations.environment import Environment
from simulations.scenario import load_scenario
from simulations.slot_world import factor
from templates_store import keys
from templates_store.db import make_engine
from templates_store.migrate import upgrade

CAMPAIGN = "demo"
SCENARIOS = ("baseline", "send-time")  # the built-ins whose templates the demo has texts for
ZONES = {
    "en": "America/New_York",
    "de": "Europe/Berlin",
    "da": "Europe/Copenhagen",
    "zh": "Asia/Shanghai",
}
LOCALE_SHARE = (0.4, 0.3, 0.2, 0.1)
NAMES = {"en": "Ada", "de": "Jürgen", "da": "Søren", "zh": "王芳"}
CURRENCY = {"en": "$", "de": "€", "da": "kr. ", "zh": "¥"}


@dataclass(frozen=True)
class DemoResult:
    database: str
    admin_key: str
    keys: dict[str, str]
    decisions: int
    events: int
    pending: int
    dashboard_path: Path | None


def _keys(url: str) -> dict[str, str]:
    with Session(make_engine(url)) as session:
        made = {
            role: keys.create_key(session, role=role, now=datetime.now(UTC))[1]
            for role in ("admin", "manager", "sender", "analyst")
        }
        session.commit()
    return made


def _campaign_body(env: Environment) -> dict[str, Any]:
    champion = env.scenario.campaign.champion or env.scenario.arm_keys[0]
    return {
        "key": CAMPAIGN,
        "name": "Consumer loans (demo)",
        "objective": "pay",
        "exploration_floor": 0.02,
        "burn_in": 20,
        "control": {"template": champion.split(":")[0], "share": 0.1},
        "fallback_locale": "en",
        "windows_days": {"open": 3, "click": 7, "pay": 14},
        "send_slots": env.scenario.campaign.send_slots or [],
    }


def _templates(env: Environment) -> list[dict[str, Any]]:
    by_template: dict[str, list[str]] = {}
    for arm in env.scenario.arms:
        by_template.setdefault(arm.template, []).append(arm.channel)
    bodies = []
    for template, channels in by_template.items():
        costs = {str(k): v for k, v in env.scenario.costs.items()}
        cost = {c: float(costs.get(c, 0.0)) for c in channels}
        renditions = [rendition(template, c, loc) for c in channels for loc in LOCALES]
        bodies.append({"key": template, "cost": cost, "variables": [], "renditions": renditions})
    return bodies


def _debtor(
    i: int,
    day: datetime,
    segment: str,
    channels: Sequence[str],
    locale: str,
    rng: np.random.Generator,
) -> dict[str, Any]:
    zone = ZoneInfo(ZONES[locale])
    local = datetime.combine(day.date(), time(9, 0), tzinfo=zone) + timedelta(
        minutes=int(rng.integers(0, 600))
    )
    amount = f"{CURRENCY[locale]}{rng.integers(40, 900)}.00"
    return {
        "debtor_id": f"debtor-{i:06d}",
        "segment": segment,
        "channels": list(channels),
        "timezone": ZONES[locale],
        "locale": locale,
        "variables": {
            "name": NAMES[locale],
            "amount_due": amount,
            "pay_url": f"https://pay.example/{i:06d}",
            "opt_out_url": f"https://pay.example/stop/{i:06d}",
            "creditor": "Example Lending",
        },
        "at": local.astimezone(UTC).isoformat(),
    }


def run(
    database: Path,
    *,
    days: int = 21,
    daily: int = 400,
    seed: int = 7,
    dashboard: Path | None = None,
    progress: Any = None,
    scenario: str = "baseline",
) -> DemoResult:
    """Create the demo campaign in a fresh SQLite file and feed it ``days`` of debtors of
    the built-in ``scenario`` (one of ``SCENARIOS``)."""
    database.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{database}"
    upgrade(url)
    made = _keys(url)
    if scenario not in SCENARIOS:
        raise ValueError(f"the demo runs {' or '.join(SCENARIOS)}, not {scenario!r}")
    env = Environment.from_scenario(load_scenario(scenario))
    rng = np.random.default_rng(seed)
    app = create_app(Settings(database_url=url, evidence_cache_seconds=0))
    arm_index = {key: k for k, key in enumerate(env.scenario.arm_keys)}
    segments = env.scenario.segment_keys
    shares = np.array([s.share for s in env.scenario.segments])
    channels_of_arm = [a.channel for a in env.scenario.arms]
    now = datetime.now(UTC)
    start = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    pending: list[tuple[datetime, dict[str, Any]]] = []
    decisions = events = 0
    with TestClient(app) as client:
        admin = {"Authorization": f"Bearer {made['admin']}"}
        sender = {"Authorization": f"Bearer {made['sender']}"}
        _ok(client.post("/v1/campaigns", json=_campaign_body(env), headers=admin))
        for body in _templates(env):
            _ok(client.post(f"/v1/campaigns/{CAMPAIGN}/templates", json=body, headers=admin))
        for d in range(days):
            day = start + timedelta(days=d)
            items, cells = [], []
            for n in range(daily):
                s = int(rng.choice(len(segments), p=shares / shares.sum()))
                pattern = int(
                    rng.choice(
                        env.pattern_prob.shape[1], p=env.pattern_prob[s] / env.pattern_prob[s].sum()
                    )
                )
                reachable = sorted(
                    {channels_of_arm[k] for k in np.flatnonzero(env.pattern_mask[pattern])}
                )
                locale = LOCALES[int(rng.choice(len(LOCALES), p=LOCALE_SHARE))]
                items.append(_debtor(d * daily + n, day, segments[s], reachable, locale, rng))
                cells.append(s)
            results = _ok(
                client.post(
                    f"/v1/campaigns/{CAMPAIGN}/decisions/batch",
                    json={"items": items},
                    headers=sender,
                )
            )["results"]
            for s, result in zip(cells, results, strict=True):
                if result["send"]:
                    decisions += 1
                    pending.extend(_outcomes(env, rng, s, arm_index[result["arm"]], result, d))
            due = [e for at, e in pending if at <= min(day + timedelta(days=1), now)]
            pending = [(at, e) for at, e in pending if at > min(day + timedelta(days=1), now)]
            events += _send_events(client, due, sender)
            if progress is not None:
                progress(d + 1, days)
        events += _send_events(client, [e for at, e in pending if at <= now], sender)
        waiting = sum(1 for at, _ in pending if at > now)
    written = None
    if dashboard is not None:
        from api.service import dashboard as page

        with Session(make_engine(url)) as session:
            html = page.build(session, app.state.context, CAMPAIGN, plotly_js="inline")
        dashboard.write_text(html, encoding="utf-8")
        written = dashboard
    return DemoResult(str(database), made["admin"], made, decisions, events, waiting, written)


def _outcomes(
    env: Environment, rng: np.random.Generator, s: int, k: int, result: dict[str, Any], day: int
) -> list[tuple[datetime, dict[str, Any]]]:
    """The true funnel for one decision (at its send time, in its send slot): which outcomes
    happen, and when."""
    rates = env.rates_on(day)[s, k]
    if result["slot"] is not None:
        slot_factor = factor(env.scenario, result["slot"], env.scenario.arms[k].channel)
        rates = np.minimum(rates * slot_factor, 1.0)
    decided = datetime.fromisoformat(result["send_at"].replace("Z", "+00:00"))
    out = []
    opened = env.tracked[k, 0] and rng.random() < rates[0]
    clicked = (
        (rng.random() < rates[1] / max(rates[0], 1e-9))
        if (env.tracked[k, 0] and opened)
        else (env.tracked[k, 1] and not env.tracked[k, 0] and rng.random() < rates[1])
    )
    paid = rng.random() < rates[PAY]
    for o, happened in ((0, opened), (1, clicked), (PAY, paid)):
        if not happened:
            continue
        cdf = env.delay_cdf[o, k]
        delay_days = int((cdf < rng.random()).sum())
        at = decided + timedelta(days=delay_days, hours=float(rng.uniform(0, 20)))
        event: dict[str, Any] = {
            "event_id": uuid.uuid4().hex,
            "type": OUTCOMES[o],
            "decision_id": result["decision_id"],
            "occurred_at": at.isoformat(),
        }
        if o == PAY:
            mean = float(env.amount[s, k])
            event["amount"] = round(float(rng.gamma(4.0, mean / 4.0)), 2)
            event["currency"] = "EUR"
        out.append((at, event))
    return out


def _send_events(client: TestClient, events: list[dict[str, Any]], headers: dict[str, str]) -> int:
    sent = 0
    for start in range(0, len(events), 2_000):
        chunk = events[start : start + 2_000]
        if chunk:
            _ok(client.post("/v1/events/batch", json={"events": chunk}, headers=headers))
            sent += len(chunk)
    return sent


def _ok(response: Any) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(f"demo request failed: {response.status_code} {response.text[:500]}")
    return response.json()
