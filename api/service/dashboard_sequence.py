"""The dashboard's sequence panels (issue 14): how much of each entry cohort of dunning cases
was recovered by days since its first contact, contacts per payer, and which arm the bandit
sends at each touch of a case."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from bandit.days import day_start
from simulations import charts
from templates_store.reports import SequenceFigures

TOUCHES_SHOWN = 6  # touches from the sixth on are shown together as "6+"
COHORTS_SHOWN = 6  # entry weeks drawn as their own line, the most recent ones


def _week(day: int) -> int:
    """Monday-based week number (day 0, 1970-01-01, was a Thursday)."""
    return (day + 3) // 7


def recovery_curves(
    cases: list[tuple[int, int | None, int, int]], today: int, days_shown: int
) -> tuple[list[int], dict[str, list[float | None]]]:
    """(days since first contact k = 0.., per cohort the share of its cases paid within k
    days). A cohort counts at k only with the cases that began at least k days before
    ``today`` (None where none did); "all cases" pools every entry day."""
    if not cases:
        return [], {}
    entry = np.array([c[0] for c in cases])
    waited = np.array([-1 if c[1] is None else c[1] for c in cases])
    count = np.array([c[2] for c in cases], dtype=np.float64)
    horizon = int(min(days_shown, max(0, today - entry.min())))
    ks = np.arange(horizon + 1)[:, None]

    def curve(rows: np.ndarray) -> list[float | None]:
        observed = (today - entry[rows])[None, :] >= ks
        paid = observed & (waited[rows] >= 0)[None, :] & (waited[rows][None, :] <= ks)
        total = (observed * count[rows]).sum(axis=1)
        done = (paid * count[rows]).sum(axis=1)
        return [float(d / t) if t > 0 else None for d, t in zip(done, total, strict=True)]

    series = {"all cases": curve(np.ones(len(cases), dtype=bool))}
    weeks = np.array([_week(int(e)) for e in entry])
    for week in sorted(set(weeks.tolist()))[-COHORTS_SHOWN:]:
        label = f"began week of {day_start(week * 7 - 3).date().isoformat()}"
        series[label] = curve(weeks == week)
    return list(range(horizon + 1)), series


def cards(data: SequenceFigures, days_shown: int) -> str:
    """Cases begun, recovered, recovery rate and contacts per payer in the shown days."""
    cases = sum(c[2] for c in data.cases)
    paid = sum(c[2] for c in data.cases if c[1] is not None)
    contacts = sum(c[3] for c in data.cases)
    rate = f"{paid / cases * 100:.1f}%" if cases else "n/a"
    per_payer = f"{contacts / paid:.2f}" if paid else "n/a"
    items = [
        (f"cases begun ({days_shown} days)", f"{cases:,}"),
        ("cases paid", f"{paid:,}"),
        ("recovery rate", rate),
        ("contacts per case", f"{contacts / cases:.2f}" if cases else "n/a"),
        ("contacts per payer", per_payer),
    ]
    return (
        "<div class='cards'>"
        + "".join(f"<div class='card'>{html.escape(k)}<b>{v}</b></div>" for k, v in items)
        + "</div>"
    )


def touch_label(touch: int) -> str:
    return f"{TOUCHES_SHOWN}+" if touch >= TOUCHES_SHOWN else str(touch)


def sends_by_touch(
    touches: list[tuple[int, int, int]], key_of: dict[int, str]
) -> tuple[list[str], list[str], np.ndarray]:
    """(touch labels with their sends, arm keys, share of each touch's sends per arm)."""
    steps = sorted({min(t, TOUCHES_SHOWN) for t, _, _ in touches})
    names = sorted({key_of.get(a, "?") for _, a, _ in touches})
    grid = np.zeros((len(steps), len(names)))
    si, ni = {s: i for i, s in enumerate(steps)}, {n: j for j, n in enumerate(names)}
    for t, a, n in touches:
        grid[si[min(t, TOUCHES_SHOWN)], ni[key_of.get(a, "?")]] += n
    total = grid.sum(axis=1, keepdims=True)
    labels = [
        f"{touch_label(s)} ({int(n):,} sends)" for s, n in zip(steps, total[:, 0], strict=True)
    ]
    return labels, names, np.divide(grid, total, out=np.zeros_like(grid), where=total > 0)


def figures(
    data: SequenceFigures, key_of: dict[int, str], today: int, days_shown: int
) -> list[go.Figure]:
    """The recovery curve of entry cohorts and the allocation per touch (when there is data)."""
    out = []
    days, series = recovery_curves(data.cases, today, days_shown)
    if series:
        out.append(
            charts.lines(
                days,
                series,
                "Recovery curve: share of the cases begun in each week paid, by days since first contact",
                x_title="days since the case's first contact",
                y_title="share paid",
            )
        )
    if data.touches:
        labels, names, shares = sends_by_touch(data.touches, key_of)
        out.append(
            charts.stacked_bars(
                labels,
                names,
                shares,
                "Allocation per touch: share of the bandit's sends per arm at each step of a case",
                x_title="touch (contact number in the debtor's case)",
            )
        )
    return out
