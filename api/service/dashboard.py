"""The campaign dashboard: one HTML page with plotly charts for managers and analysts."""

from __future__ import annotations

import html
import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import plotly.graph_objects as go
from sqlmodel import Session

from api.schemas import ArmsOut
from api.service import analysis, campaigns, dashboard_sequence, dashboard_slots, templates
from api.service.context import ServiceContext
from bandit.days import day_of
from simulations import charts
from templates_store import catalog, reports, statistics

DAYS_SHOWN = 60
SEGMENTS_SHOWN = 4


def _money(x: float) -> str:
    return f"{x:,.2f}"


def lift(
    bandit: reports.GroupTotals, control: reports.GroupTotals
) -> tuple[float, float, float] | None:
    """Pay-rate difference bandit - control with a 95% normal interval; None without control."""
    if bandit.decisions == 0 or control.decisions == 0:
        return None
    pb, pc = bandit.paid / bandit.decisions, control.paid / control.decisions
    se = math.sqrt(pb * (1 - pb) / bandit.decisions + pc * (1 - pc) / control.decisions)
    diff = pb - pc
    return diff, diff - 1.96 * se, diff + 1.96 * se


def _cards(totals: dict[bool, reports.GroupTotals]) -> str:
    both = reports.GroupTotals(
        sum(t.decisions for t in totals.values()),
        sum(t.paid for t in totals.values()),
        sum(t.amount for t in totals.values()),
        sum(t.cost for t in totals.values()),
    )
    rate = both.paid / both.decisions if both.decisions else 0.0
    found = lift(totals[False], totals[True])
    lift_text = (
        "no control group"
        if found is None
        else f"{found[0] * 100:+.2f} pp <span class='note'>[{found[1] * 100:+.2f}, {found[2] * 100:+.2f}]</span>"
    )
    cards = [
        ("sends", f"{both.decisions:,}"),
        ("pays", f"{both.paid:,}"),
        ("pay rate", f"{rate * 100:.2f}%"),
        ("amount", _money(both.amount)),
        ("cost", _money(both.cost)),
        ("net", _money(both.amount - both.cost)),
        ("bandit vs control (pay rate)", lift_text),
    ]
    return (
        "<div class='cards'>"
        + "".join(f"<div class='card'>{html.escape(k)}<b>{v}</b></div>" for k, v in cards)
        + "</div>"
    )


def build(
    session: Session, ctx: ServiceContext, campaign_key: str, plotly_js: charts.PlotlyJs = "src"
) -> str:
    """The dashboard page of one campaign."""
    campaign = campaigns.load(session, campaign_key)
    cfg = campaigns.config(campaign)
    now = datetime.now(UTC)
    today = day_of(now)
    arms = catalog.campaign_arms(session, campaign_id=cfg.id)
    key_of = {a.arm_id: a.key for a in arms}
    segments = catalog.all_segments(session, campaign_id=cfg.id)
    name_of = {sid: key for key, sid in segments.items()}
    stats = statistics.stat_rows(session, campaign_id=cfg.id)
    sends: dict[int, int] = defaultdict(int)
    for r in stats:
        sends[r.segment_id] += r.sends
    busiest = sorted(sends, key=lambda s: -sends[s])[:SEGMENTS_SHOWN]
    figures = []
    pooled = analysis.arms(session, ctx, campaign_key, None)
    figures.append(
        _posteriors(pooled, "Campaign-wide posterior of the objective per arm (95% intervals)")
    )
    allocation_panels, best_panels = [], []
    snapshots = reports.snapshots_since(
        session, campaign_id=cfg.id, since=now - timedelta(days=DAYS_SHOWN)
    )
    for sid in busiest:
        rows = [
            (d, key_of.get(a, "?"), float(n))
            for d, a, n in reports.sends_by_day(
                session, campaign_id=cfg.id, segment_id=sid, since_day=today - DAYS_SHOWN
            )
        ]
        if rows:
            allocation_panels.append((name_of[sid], *charts.day_shares(rows)))
        policy_rows = [
            (day_of(at), arm, float(v["allocation"]))
            for at, data in snapshots
            if data.get("segment_id") == sid
            for arm, v in data.get("arms", {}).items()
        ]
        if policy_rows:
            best_panels.append((name_of[sid], *charts.day_shares(policy_rows)))
    if allocation_panels:
        figures.append(
            charts.stacked_shares(
                allocation_panels, "Allocation over time: share of each segment's sends per arm"
            )
        )
    if best_panels:
        figures.append(
            charts.stacked_shares(
                best_panels,
                "Thompson allocation over time (probability of being chosen; close to P(best))",
            )
        )
    per_segment = []
    for sid in busiest:
        out = analysis.arms(session, ctx, campaign_key, name_of[sid])
        figures.append(_posteriors(out, f"Posterior per arm, segment {name_of[sid]}"))
        per_segment.append((name_of[sid], out))
    figures.append(_funnel(pooled))
    slot_sends = (
        reports.slot_sends_by_day(session, campaign_id=cfg.id, since_day=today - DAYS_SHOWN)
        if pooled.slots
        else []
    )
    figures += dashboard_slots.figures(pooled, slot_sends)
    sequence = reports.sequence_figures(session, campaign_id=cfg.id, since_day=today - DAYS_SHOWN)
    figures += dashboard_sequence.figures(sequence, key_of, today, DAYS_SHOWN)
    body = [
        f"<p class='note'>Campaign <b>{html.escape(cfg.key)}</b> · objective {html.escape(str(cfg.settings.objective))} · "
        f"policy {html.escape(cfg.settings.policy)} · updated {now.strftime('%Y-%m-%d %H:%M UTC')}</p>",
        _cards(reports.control_totals(session, campaign_id=cfg.id)),
        dashboard_sequence.cards(sequence, DAYS_SHOWN),
        "<h2>Templates</h2>",
        _templates(session, campaign_key),
        "<h2>Arms</h2>",
        _arm_table(pooled),
        *_guardrail_table(pooled),
        *dashboard_slots.table(pooled),
        "<h2>Charts</h2>",
        charts.figures_html(figures, plotly_js),
    ]
    return charts.page(f"dunning-bandit · {cfg.settings.name or cfg.key}", "\n".join(body))


def _posteriors(out: ArmsOut, title: str) -> go.Figure:
    names = [a.arm for a in out.arms]
    mean = np.array([a.mean for a in out.arms])
    low = np.array([a.low for a in out.arms])
    high = np.array([a.high for a in out.arms])
    return charts.intervals({"posterior": (names, mean, low, high)}, title, y_title=out.objective)


def _funnel(out: ArmsOut) -> go.Figure:
    arms = [a.arm for a in out.arms]
    stages = {
        "sends": [a.sends for a in out.arms],
        "opens": [a.opens for a in out.arms],
        "clicks": [a.clicks for a in out.arms],
        "pays": [a.pays for a in out.arms],
    }
    return charts.funnel(
        arms, stages, "Funnel per arm: sends → opens → clicks → pays (all segments)"
    )


def _arm_table(out: ArmsOut) -> str:
    rows = [
        [
            html.escape(a.arm),
            html.escape(a.status),
            f"{a.sends:,}",
            f"{a.pays:,}",
            f"{a.pending:,}",
            charts.estimate(a.mean, a.low, a.high),
            f"{a.p_best:.2f}",
            f"{a.allocation:.2f}",
        ]
        for a in out.arms
    ]
    return charts.table(
        ["arm", "status", "sends", "pays", "pending", "objective (95%)", "P(best)", "allocation"],
        rows,
    )


def _guardrail_table(out: ArmsOut) -> list[str]:
    """The guardrail panel: per arm its guarded outcome's rate per send (count / sends since
    its latest resume) with the posterior's 95% interval, against the limit; none without
    guardrails."""
    rows = []
    for a in out.arms:
        g = a.guardrail
        if g is None:
            continue
        low, high = g["interval"]
        last = g["last_action"]
        rows.append(
            [
                html.escape(a.arm),
                html.escape(a.status),
                html.escape(g["outcome"]),
                f"{g['count']:,} / {g['sends']:,}",
                f"{g['count'] / max(g['sends'], 1):.2%} <span class='note'>[{low:.2%}, {high:.2%}]</span>",
                f"{g['max_rate']:.2%}",
                f"{g['p_exceed']:.3f}",
                html.escape(f"{last['action']} {last['at']:%Y-%m-%d %H:%M}" if last else ""),
            ]
        )
    if not rows:
        return []
    header = [
        "arm",
        "status",
        "outcome",
        "count / sends",
        "rate (95%)",
        "limit",
        "P(rate > limit)",
        "last",
    ]
    return ["<h2>Guardrails</h2>", charts.table(header, rows)]


def _templates(session: Session, campaign_key: str) -> str:
    rows = [
        [
            html.escape(t.key),
            html.escape(t.status),
            f"v{t.version}",
            html.escape(t.purpose),
            html.escape(", ".join(sorted({f"{r.channel}/{r.locale}" for r in t.renditions}))),
        ]
        for t in templates.list_all(session, campaign_key)
    ]
    return charts.table(["template", "status", "version", "purpose", "renditions"], rows)
