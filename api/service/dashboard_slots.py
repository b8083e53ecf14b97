"""The dashboard's send-slot panels (issue 15), for a campaign with ``send_slots``: per
channel, each slot's campaign-wide posterior of the objective (mean, 95% interval) and its
probability of being the channel's best slot — the arms statistics' ``slots``, not computed a
second way — and each slot's share of the channel's sends by day. Nothing without slots."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from api.schemas import ArmsOut, SlotOut
from simulations import charts

POSTERIOR_TITLE = "Send slots per channel: posterior of the objective (95% intervals), P(best slot)"
SHARES_TITLE = "Send slots over time: share of each channel's sends per slot"


def posterior_panels(slots: Sequence[SlotOut]) -> list[charts.IntervalPanel]:
    """Per channel (in the statistics' order): (channel, slots, mean, low, high, P(best))."""
    channels: dict[str, list[SlotOut]] = {}
    for s in slots:
        channels.setdefault(s.channel, []).append(s)
    return [
        (
            channel,
            [s.slot for s in mine],
            [s.mean for s in mine],
            [s.low for s in mine],
            [s.high for s in mine],
            [s.p_best for s in mine],
        )
        for channel, mine in channels.items()
    ]


def share_panels(
    sends: Sequence[tuple[int, str, str, int]],
) -> list[tuple[str, list[str], list[str], np.ndarray]]:
    """Per channel (sorted): (channel, dates, slots, each slot's share of the day's sends)
    from (day, channel, slot, sends) rows."""
    by_channel: dict[str, list[tuple[int, str, float]]] = {}
    for day, channel, slot, n in sends:
        by_channel.setdefault(channel, []).append((day, slot, float(n)))
    return [(c, *charts.day_shares(rows)) for c, rows in sorted(by_channel.items())]


def figures(pooled: ArmsOut, sends: Sequence[tuple[int, str, str, int]]) -> list[go.Figure]:
    """The posterior panel (when the campaign has slots) and the shares over time (when a
    decision with a slot was sent in the days shown)."""
    out = []
    if pooled.slots:
        out.append(
            charts.intervals_and_best(
                posterior_panels(pooled.slots), POSTERIOR_TITLE, y_title=pooled.objective
            )
        )
    if sends:
        out.append(charts.stacked_shares(share_panels(sends), SHARES_TITLE))
    return out


def table(pooled: ArmsOut) -> list[str]:
    """The send-slot table: per channel and slot, sends, pays, posterior and P(best)."""
    rows = [
        [
            html.escape(s.channel),
            html.escape(s.slot),
            f"{s.sends:,}",
            f"{s.pays:,}",
            charts.estimate(s.mean, s.low, s.high),
            f"{s.p_best:.2f}",
        ]
        for s in pooled.slots
    ]
    if not rows:
        return []
    header = ["channel", "slot", "sends", "pays", "objective (95%)", "P(best slot)"]
    return ["<h2>Send slots</h2>", charts.table(header, rows)]
