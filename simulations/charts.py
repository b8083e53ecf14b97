"""Array-level plotly charts and the HTML page around them, shared by the simulator report,
the replay report and the service's dashboard (one plotting module for all three)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bandit.days import day_start

PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#e7969c",
)
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px; color: #222; padding: 0 1rem; }
h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.7rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.note { color: #555; font-size: 0.9rem; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8rem; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6rem 1rem; min-width: 9rem; }
.card b { display: block; font-size: 1.4rem; }
"""


def layout(fig: go.Figure, title: str, **extra: Any) -> go.Figure:
    fig.update_layout(
        title=title,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.25},
        margin={"l": 50, "r": 20, "t": 60, "b": 40},
        height=extra.pop("height", 380),
        **extra,
    )
    return fig


def stacked_shares(
    panels: Sequence[tuple[str, Sequence[Any], Sequence[str], np.ndarray]],
    title: str,
    x_title: str = "day",
) -> go.Figure:
    """One stacked-area panel per (name, x, series names, shares (len(x), series))."""
    fig = make_subplots(
        rows=1, cols=max(len(panels), 1), shared_yaxes=True, subplot_titles=[p[0] for p in panels]
    )
    colours = {
        name: PALETTE[i % len(PALETTE)]
        for i, name in enumerate(sorted({n for p in panels for n in p[2]}))
    }
    shown: set[str] = set()
    for col, (_, x, names, shares) in enumerate(panels, start=1):
        for j, name in enumerate(names):
            fig.add_trace(
                go.Scatter(
                    x=list(x),
                    y=np.asarray(shares)[:, j],
                    name=name,
                    stackgroup=f"s{col}",
                    legendgroup=name,
                    showlegend=name not in shown,
                    line={"width": 0.5, "color": colours[name]},
                ),
                row=1,
                col=col,
            )
            shown.add(name)
    fig.update_yaxes(range=[0, 1])
    return layout(fig, title, xaxis_title=x_title)


def day_shares(
    rows: Sequence[tuple[int, str, float]],
) -> tuple[list[str], list[str], np.ndarray]:
    """(dates, series names, shares (dates, series)) from (day number, series, weight) rows:
    each day's weights as shares of that day's total; days and names sorted."""
    days = sorted({d for d, _, _ in rows})
    names = sorted({n for _, n, _ in rows})
    grid = np.zeros((len(days), len(names)))
    di, ni = {d: i for i, d in enumerate(days)}, {n: j for j, n in enumerate(names)}
    for d, n, w in rows:
        grid[di[d], ni[n]] += w
    total = grid.sum(axis=1, keepdims=True)
    labels = [day_start(d).date().isoformat() for d in days]
    return labels, names, np.divide(grid, total, out=np.zeros_like(grid), where=total > 0)


def intervals(
    series: Mapping[str, tuple[Sequence[str], np.ndarray, np.ndarray, np.ndarray]],
    title: str,
    y_title: str = "pay rate",
    truth: tuple[Sequence[str], np.ndarray] | None = None,
) -> go.Figure:
    """Posterior means with 95% intervals: per series name, (arms, mean, low, high)."""
    fig = go.Figure()
    for i, (name, (arms, mean, low, high)) in enumerate(series.items()):
        fig.add_trace(
            go.Scatter(
                x=list(arms),
                y=mean,
                mode="markers",
                name=name,
                marker={"color": PALETTE[i % len(PALETTE)], "size": 9},
                error_y={
                    "type": "data",
                    "array": np.asarray(high) - mean,
                    "arrayminus": mean - np.asarray(low),
                },
            )
        )
    if truth is not None:
        fig.add_trace(
            go.Scatter(
                x=list(truth[0]),
                y=truth[1],
                mode="markers",
                name="true rate",
                marker={"symbol": "line-ew-open", "size": 18, "color": "black"},
            )
        )
    return layout(fig, title, yaxis_title=y_title, scattermode="group")


# (name, labels, mean, low, high, P(best)) of one panel of ``intervals_and_best``
IntervalPanel = tuple[
    str, Sequence[str], Sequence[float], Sequence[float], Sequence[float], Sequence[float]
]


def intervals_and_best(
    panels: Sequence[IntervalPanel],
    title: str,
    y_title: str,
) -> go.Figure:
    """One column per panel (name, labels, mean, low, high, P(best)): the posterior means with
    95% intervals above, the probability of being the panel's best below."""
    n = max(len(panels), 1)
    fig = make_subplots(
        rows=2,
        cols=n,
        shared_xaxes=True,
        shared_yaxes=True,
        row_heights=[0.62, 0.38],
        vertical_spacing=0.1,
        subplot_titles=[p[0] for p in panels],
    )
    for col, (_, labels, mean, low, high, best) in enumerate(panels, start=1):
        m = [float(v) for v in mean]
        fig.add_trace(
            go.Scatter(
                x=list(labels),
                y=m,
                mode="markers",
                name="posterior mean (95% interval)",
                legendgroup="posterior",
                showlegend=col == 1,
                marker={"color": PALETTE[0], "size": 9},
                error_y={
                    "type": "data",
                    "array": [float(h) - v for h, v in zip(high, m, strict=True)],
                    "arrayminus": [v - float(lo) for lo, v in zip(low, m, strict=True)],
                },
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Bar(
                x=list(labels),
                y=[float(b) for b in best],
                name="P(best)",
                legendgroup="best",
                showlegend=col == 1,
                marker_color=PALETTE[2],
            ),
            row=2,
            col=col,
        )
    fig.update_yaxes(title_text=y_title, row=1, col=1)
    fig.update_yaxes(title_text="P(best)", row=2, col=1)
    fig.update_yaxes(range=[0, 1], row=2)
    return layout(fig, title, height=460)


def funnel(arms: Sequence[str], stages: Mapping[str, Sequence[float]], title: str) -> go.Figure:
    """Grouped bars per arm: e.g. sends -> opens -> clicks -> pays (log scale)."""
    fig = go.Figure()
    for i, (stage, values) in enumerate(stages.items()):
        fig.add_trace(
            go.Bar(x=list(arms), y=list(values), name=stage, marker_color=PALETTE[i % len(PALETTE)])
        )
    return layout(fig, title, barmode="group", yaxis_type="log", yaxis_title="count (log scale)")


def lines(
    x: Sequence[Any],
    series: Mapping[str, Sequence[float | None]],
    title: str,
    x_title: str,
    y_title: str,
) -> go.Figure:
    """One line per series name over ``x`` (gaps where a value is None)."""
    fig = go.Figure()
    for i, (name, values) in enumerate(series.items()):
        fig.add_trace(
            go.Scatter(
                x=list(x),
                y=list(values),
                name=name,
                mode="lines+markers",
                line={"color": PALETTE[i % len(PALETTE)]},
            )
        )
    return layout(fig, title, xaxis_title=x_title, yaxis={"title": y_title, "rangemode": "tozero"})


def stacked_bars(
    x: Sequence[str], names: Sequence[str], shares: np.ndarray, title: str, x_title: str
) -> go.Figure:
    """Bars stacked to 1 per x label: ``shares`` (len(x), len(names))."""
    fig = go.Figure()
    for j, name in enumerate(names):
        fig.add_trace(
            go.Bar(
                x=list(x),
                y=np.asarray(shares)[:, j],
                name=name,
                marker_color=PALETTE[j % len(PALETTE)],
            )
        )
    return layout(
        fig, title, barmode="stack", xaxis_title=x_title, yaxis={"range": [0, 1], "title": "share"}
    )


PlotlyJs = Literal["inline", "src"]


def figures_html(
    figures: Sequence[go.Figure], plotly_js: PlotlyJs = "inline", src: str = "/static/plotly.min.js"
) -> str:
    """The figures as HTML divs; plotly.js inlined once, or loaded from ``src`` (no CDN)."""
    parts = []
    if plotly_js == "src":
        parts.append(f"<script src='{html.escape(src)}'></script>")
    for i, fig in enumerate(figures):
        include: bool | str = plotly_js == "inline" and i == 0
        parts.append(
            fig.to_html(
                full_html=False,
                include_plotlyjs=include,
                config={"displaylogo": False, "responsive": True},
            )
        )
    return "\n".join(parts)


def estimate(mean: float, low: float, high: float, spec: str = ".4f") -> str:
    """A figure with its interval in a table cell: ``0.0123 [0.0101, 0.0150]``."""
    return f"{mean:{spec}} <span class='note'>[{low:{spec}}, {high:{spec}}]</span>"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An HTML table; cells are trusted HTML, headers are escaped."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str) -> str:
    """A complete HTML page with the shared style."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<link rel='icon' href='data:,'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>\n"
    )
