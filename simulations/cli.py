"""``dunning-bandit simulate`` and ``dunning-bandit replay``: typer command functions.

Register them on the app: ``app.command()(simulate)`` and ``app.command()(replay)``.
Text built from a scenario, a log, a path or a problem is printed through ``escape``: rich
would read ``[population]`` in a message as markup and swallow it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from simulations.agents import POLICY_NAMES
from simulations.decision_log import DecisionLogError
from simulations.estimators import ESTIMATORS
from simulations.replay import POLICIES_HELP
from simulations.replay import replay as run_replay
from simulations.report import write_report
from simulations.runner import DEFAULT_POLICIES, parse_policies
from simulations.runner import simulate as run_simulation
from simulations.scenario import ScenarioError, builtin_names, load_scenario

err = Console(stderr=True)


def _prepare(*paths: Path | None) -> None:
    """Create the folders of output files up front, so a long run cannot fail at the end; a
    path that is a folder is a clear error (a file name is wanted)."""
    for path in paths:
        if path is not None and path.is_dir():
            raise ValueError(f"{path} is a folder: give a file name, e.g. {path / 'report.html'}")
    for path in paths:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code=2)


def simulate(
    scenario: Annotated[
        str,
        typer.Argument(help=f"A scenario TOML file, or a built-in: {', '.join(builtin_names())}."),
    ],
    policies: Annotated[
        str, typer.Option(help=f"Comma-separated, from: {', '.join(POLICY_NAMES)}.")
    ] = ",".join(DEFAULT_POLICIES),
    reps: Annotated[int | None, typer.Option(help="Repetitions (default: the scenario's).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: the scenario's).")] = None,
    out: Annotated[Path, typer.Option(help="The HTML report to write.")] = Path("report.html"),
    json_path: Annotated[
        Path | None, typer.Option("--json", help="The JSON summary (default: beside --out).")
    ] = None,
) -> None:
    """Simulate policies on a scenario: an HTML report and a JSON summary."""
    try:
        sc = load_scenario(scenario)
        names = parse_policies(policies)
        if reps is not None and reps < 1:
            raise ValueError(f"--reps must be at least 1, got {reps}")
        if seed is not None and seed < 0:
            raise ValueError(f"--seed must be zero or more, got {seed}")
        json_out = json_path or out.with_suffix(".json")
        _prepare(out, json_out)
    except (ScenarioError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TextColumn("days"), TimeElapsedColumn(), console=err) as bar:
        tasks = {n: bar.add_task(f"{n:<17}", total=sc.days) for n in names}
        result = run_simulation(
            sc, names, reps, seed, progress=lambda n, done, _: bar.update(tasks[n], completed=done)
        )
    write_report(result, out)
    result.write_json(json_out)
    table = Table(title=escape(f"{result.scenario}: {result.reps} reps x {result.days} days"))
    population = sc.population is not None
    headers = ["policy", "regret", "pays", "net", "final best-arm share"]
    headers += ["recovery rate", "contacts/payer", "opt-outs"] if population else []
    for column in headers:
        if column == "policy":  # a policy's name is never cut short on a narrow terminal
            table.add_column(
                column, justify="left", no_wrap=True, min_width=len(max(names, key=len))
            )
        else:
            table.add_column(column, justify="right")
    for name, p in result.summary()["policies"].items():
        cells = [
            escape(name),
            f"{p['regret']['mean']:,.1f}",
            f"{p['pays']['mean']:,.0f}",
            f"{p['net']['mean']:,.0f}",
            f"{p['final_best_arm_share']['mean']:.1%}",
        ]
        if population:
            cells += [
                f"{p['recovery_rate']['mean']:.1%}",
                f"{p['contacts_per_payer']['mean']:,.1f}",
                f"{p['opt_outs']['mean']:,.1f}",
            ]
        table.add_row(*cells)
    wide = Console()  # at least 110 columns: a piped run's 80 would cut policy names short
    wide.width = max(wide.width, 110)
    wide.print(table)
    Console().print(escape(f"report: {out}\nsummary: {json_out}"), highlight=False)


def replay(
    log: Annotated[Path, typer.Argument(help="The decision log CSV (the API's export).")],
    policy: Annotated[str, typer.Option(help=POLICIES_HELP)] = "uniform",
    estimators: Annotated[
        str, typer.Option(help=f"Comma-separated, from: {', '.join(ESTIMATORS)}.")
    ] = ",".join(ESTIMATORS),
    objective: Annotated[
        str, typer.Option(help="pay, or net_recovery (amount - cost), when there is no reward.")
    ] = "pay",
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples (>= 1000).")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed for the bootstrap and the walk.")] = 0,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the estimates as JSON.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write an HTML report.")] = None,
) -> None:
    """Estimate what a policy would have reached on a decision log (off-policy replay)."""
    try:
        _prepare(json_path, out)
        result = run_replay(log, policy, estimators, resamples, seed, objective)
    except (DecisionLogError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    table = Table(title=escape(f"{policy} on {log.name}: {result.rows:,} decisions"))
    for column in ("estimator", "value", "95% low", "95% high", "ESS"):
        table.add_column(column, justify="left" if column == "estimator" else "right")
    for e in result.estimates.values():
        table.add_row(
            escape(e.estimator), f"{e.value:.5g}", f"{e.low:.5g}", f"{e.high:.5g}", f"{e.ess:,.0f}"
        )
    console = Console()
    console.print(table)
    console.print(f"logged policy: {result.logged_value:.5g} per decision", highlight=False)
    for note in result.notes:
        console.print(escape(f"note: {note}"), highlight=False)
    if json_path is not None:
        result.write_json(json_path)
        console.print(escape(f"estimates: {json_path}"), highlight=False)
    if out is not None:
        write_report(result, out)
        console.print(escape(f"report: {out}"), highlight=False)
