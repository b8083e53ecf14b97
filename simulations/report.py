"""Self-contained HTML reports (plotly.js inlined once: the machine may have no internet).

The page, tables and figure embedding come from ``simulations.charts``, shared with the
service's dashboard.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from simulations import charts, plots
from simulations.replay import ReplayResult
from simulations.results import POPULATION_SUMMARY, SimulationResult


def _number(x: float) -> str:
    """Thousands with separators, small numbers with 3 significant digits."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _band(figure: dict[str, float]) -> str:
    low, high = _number(figure["low"]), _number(figure["high"])
    return f"{_number(figure['mean'])} <span class='note'>[{low}, {high}]</span>"


def simulation_html(result: SimulationResult) -> str:
    """The simulation report: summary table, cumulative regret, allocation per segment,
    outcomes per policy and final posteriors."""
    summary: dict[str, Any] = result.summary()
    fields: tuple[str, ...] = (
        "regret",
        "pays",
        "amount",
        "cost",
        "net",
        "best_arm_share",
        "final_best_arm_share",
    )
    figures = [plots.cumulative_regret(result), plots.outcomes(result)]
    if any(r.recovery_curve is not None for r in result.runs.values()):
        fields += POPULATION_SUMMARY
        figures.insert(1, plots.recovery_curve(result))
    rows = [
        [html.escape(name), *(_band(p[f]) for f in fields)]
        for name, p in summary["policies"].items()
    ]
    figures += [plots.allocation(result, name) for name in result.runs]
    if any(r.posterior_mean is not None for r in result.runs.values()):
        figures.append(plots.final_posteriors(result))
    intro = (
        f"<p class='note'>scenario <b>{html.escape(result.scenario)}</b> · objective "
        f"{html.escape(result.objective)} · {result.days} days · {len(result.segments)} segments "
        f"x {len(result.arms)} arms · {result.reps} repetitions · seed {result.seed}. Totals per "
        "repetition over the whole run: mean [2.5%, 97.5%] over repetitions. Regret uses true "
        "expected values against the best arm each debtor was eligible for.</p>"
    )
    table = charts.table(["policy", *fields], rows)
    return charts.page(
        f"Simulation: {result.scenario}", intro + table + charts.figures_html(figures)
    )


def replay_html(result: ReplayResult) -> str:
    """The replay report: estimates table and chart."""
    rows = [
        [
            html.escape(e.estimator),
            f"{e.value:.5g}",
            f"{e.low:.5g}",
            f"{e.high:.5g}",
            f"{e.ess:,.0f}",
        ]
        for e in result.estimates.values()
    ]
    accepted = "" if result.accepted is None else f" · replay walk accepted {result.accepted:,}"
    notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in result.notes)
    intro = (
        f"<p class='note'>log {html.escape(result.source)} · {result.rows:,} decisions · "
        f"{result.segments} segments · {len(result.arms)} arms · logged value per decision "
        f"{result.logged_value:.5g}{accepted} · {result.resamples:,} bootstrap resamples</p>"
    )
    table = charts.table(["estimator", "value", "low (2.5%)", "high (97.5%)", "ESS"], rows)
    return charts.page(
        f"Replay: {result.policy}",
        intro + notes + table + charts.figures_html([plots.replay_estimates(result)]),
    )


def write_report(result: SimulationResult | ReplayResult, path: str | Path) -> Path:
    """Write the HTML report of a simulation or replay result."""
    out = Path(path)
    text = simulation_html(result) if isinstance(result, SimulationResult) else replay_html(result)
    out.write_text(text, encoding="utf-8")
    return out
