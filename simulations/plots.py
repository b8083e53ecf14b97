"""Plotly figures built from result records (simulation and replay).

Every function takes a finished result and returns a ``plotly.graph_objects.Figure``; none of
them runs anything. Array-level building blocks shared with the dashboard live in
``simulations.charts``.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from bandit.stats import FloatArray
from simulations.charts import PALETTE, intervals, layout
from simulations.replay import ReplayResult
from simulations.results import SimulationResult

MAX_ARMS_SHOWN = 8
ARM_COLOURS: tuple[str, ...] = tuple(qualitative.Dark24)  # an arm keeps its colour everywhere
OTHER_COLOUR = "#cccccc"


def _rgba(colour: str, alpha: float) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _banded(fig: go.Figure, result: SimulationResult, curves: dict[str, FloatArray]) -> None:
    """One line per policy, the mean over repetitions, inside its 2.5-97.5% band; curves
    (R, D) per policy name."""
    for i, name in enumerate(result.runs):
        if name not in curves:
            continue
        colour = PALETTE[i % len(PALETTE)]
        values = curves[name]
        days = np.arange(1, values.shape[1] + 1)
        low, high = np.percentile(values, [2.5, 97.5], axis=0)
        fig.add_trace(
            go.Scatter(
                x=np.r_[days, days[::-1]],
                y=np.r_[high, low[::-1]],
                fill="toself",
                fillcolor=_rgba(colour, 0.15),
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=days, y=values.mean(axis=0), name=name, legendgroup=name, line={"color": colour}
            )
        )


def cumulative_regret(result: SimulationResult) -> go.Figure:
    """Cumulative expected regret per policy over days: mean and 2.5-97.5% band over reps."""
    fig = go.Figure()
    _banded(fig, result, {name: run.cumulative("regret") for name, run in result.runs.items()})
    unit = "expected pays lost" if result.objective == "pay" else "objective lost"
    return layout(
        fig,
        "Cumulative regret (mean, 95% band over repetitions)",
        xaxis_title="day",
        yaxis_title=unit,
    )


def recovery_curve(result: SimulationResult) -> go.Figure:
    """[population] runs: share of each entry cohort paid by days since entry, per policy."""
    fig = go.Figure()
    curves = {
        name: run.recovery_curve
        for name, run in result.runs.items()
        if run.recovery_curve is not None
    }
    _banded(fig, result, curves)
    return layout(
        fig,
        "Recovery curve: share of entry cohorts paid (mean, 95% band over repetitions)",
        xaxis_title="days since entry",
        yaxis_title="share paid",
    )


def _top_segments(result: SimulationResult, count: int) -> list[int]:
    return [int(s) for s in np.argsort(-result.segment_share, kind="stable")[:count]]


def allocation(result: SimulationResult, policy: str, segments: int = 4) -> go.Figure:
    """Share of each segment's decisions per arm over days (the busiest ``segments``); arms
    beyond the ``MAX_ARMS_SHOWN`` most used are summed as "other"."""
    run = result.runs[policy]
    chosen = _top_segments(result, segments)
    fig = make_subplots(
        rows=1,
        cols=len(chosen),
        shared_yaxes=True,
        subplot_titles=[result.segments[s] for s in chosen],
    )
    days = np.arange(1, run.allocation.shape[0] + 1)
    usage = run.allocation[:, chosen].sum(axis=(0, 1))
    shown = [int(k) for k in np.argsort(-usage, kind="stable")[:MAX_ARMS_SHOWN]]
    for col, s in enumerate(chosen, start=1):
        share = run.allocation[:, s]
        series: list[tuple[str, FloatArray, str]] = [
            (result.arms[k], share[:, k], ARM_COLOURS[k % len(ARM_COLOURS)]) for k in shown
        ]
        if len(result.arms) > len(shown):
            rest = np.delete(share, shown, axis=1).sum(axis=1)
            series.append(("other", rest, OTHER_COLOUR))
        for label, values, colour in series:
            fig.add_trace(
                go.Scatter(
                    x=days,
                    y=values,
                    name=label,
                    stackgroup="one",
                    legendgroup=label,
                    showlegend=col == 1,
                    line={"width": 0.5, "color": colour},
                ),
                row=1,
                col=col,
            )
    fig.update_yaxes(range=[0, 1])
    return layout(fig, f"Allocation over time per segment: {policy}", xaxis_title="day")


def outcomes(result: SimulationResult) -> go.Figure:
    """Pays, amount, cost and net per policy: totals per repetition, mean with 95% band."""
    summary = result.summary()["policies"]
    names = list(summary)
    figures = ("pays", "amount", "cost", "net")
    fig = make_subplots(rows=1, cols=len(figures), subplot_titles=figures)
    for col, figure in enumerate(figures, start=1):
        mean = np.array([summary[n][figure]["mean"] for n in names])
        low = np.array([summary[n][figure]["low"] for n in names])
        high = np.array([summary[n][figure]["high"] for n in names])
        fig.add_trace(
            go.Bar(
                x=names,
                y=mean,
                showlegend=False,
                marker_color=[PALETTE[i % len(PALETTE)] for i in range(len(names))],
                error_y={"type": "data", "array": high - mean, "arrayminus": mean - low},
            ),
            row=1,
            col=col,
        )
    return layout(fig, "Outcomes per policy over the whole run (mean, 95% band)")


def final_posteriors(result: SimulationResult, segment: int | None = None) -> go.Figure:
    """Each learning policy's final posterior of the pay rate per arm (repetition 0) in the
    busiest segment, with 95% intervals, against the true rate."""
    s = _top_segments(result, 1)[0] if segment is None else segment
    series = {
        name: (result.arms, run.posterior_mean[s], run.posterior_low[s], run.posterior_high[s])
        for name, run in result.runs.items()
        if run.posterior_mean is not None
        and run.posterior_low is not None
        and run.posterior_high is not None
    }
    title = f"Final posterior of the pay rate (repetition 0), segment {result.segments[s]}"
    return intervals(series, title, truth=(result.arms, result.truth_pay[s]))


def replay_estimates(result: ReplayResult) -> go.Figure:
    """Each estimator's value with its bootstrap 95% interval, beside the logged policy's."""
    names = list(result.estimates)
    values = np.array([result.estimates[n].value for n in names])
    low = np.array([result.estimates[n].low for n in names])
    high = np.array([result.estimates[n].high for n in names])
    fig = go.Figure(
        go.Scatter(
            x=names,
            y=values,
            mode="markers",
            name=result.policy,
            marker={"size": 12},
            error_y={"type": "data", "array": high - values, "arrayminus": values - low},
        )
    )
    fig.add_hline(
        y=result.logged_value,
        line_dash="dash",
        annotation_text=f"logged policy {result.logged_value:.4g}",
    )
    return layout(
        fig,
        f"Estimated value per decision of {result.policy} (95% bootstrap intervals)",
        yaxis_title="value per decision",
    )
