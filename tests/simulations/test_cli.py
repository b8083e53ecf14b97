"""The two commands through typer's CliRunner: files written, errors readable."""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer
from typer.testing import CliRunner

from simulations.cli import replay, simulate
from tests.simulations.synthetic import synthetic_log, write_csv

app = typer.Typer()
app.command()(simulate)
app.command()(replay)
runner = CliRunner()

SCENARIO = """
name = "tiny"
days = 8
daily_volume = 300
seed = 3
reps = 2

[[segments]]
key = "dpd=0-30"
share = 0.7
consent = { sms = 0.6 }

[[segments]]
key = "dpd=31-60"
share = 0.3

[[arms]]
template = "friendly"
channel = "email"
open = { default = 0.25 }
pay = { default = 0.02 }

[[arms]]
template = "firm"
channel = "sms"
pay = { default = 0.03, "dpd=31-60" = 0.01 }
"""


def test_simulate_writes_a_self_contained_report_and_the_json(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    out = tmp_path / "report.html"
    args = ["simulate", str(scenario), "--policies", "thompson,uniform,oracle", "--reps", "2",
            "--seed", "5", "--out", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "report.json").read_text())
    assert summary["scenario"] == "tiny" and summary["seed"] == 5 and summary["reps"] == 2
    assert set(summary["policies"]) == {"thompson", "uniform", "oracle"}
    html = out.read_text()
    assert not re.search(r"<script[^>]+src=", html)  # plotly.js is inlined, no CDN
    assert "Plotly.newPlot" in html and "Cumulative regret" in html
    again = tmp_path / "again.json"
    rerun = runner.invoke(
        app, [*args[:-2], "--out", str(tmp_path / "b.html"), "--json", str(again)]
    )
    assert rerun.exit_code == 0, rerun.output
    assert again.read_text() == (tmp_path / "report.json").read_text()


def test_simulate_reports_scenario_errors_without_a_traceback(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text(SCENARIO.replace('"dpd=31-60" = 0.01', '"dpd=99" = 0.01'))
    result = runner.invoke(app, ["simulate", str(scenario)])
    assert result.exit_code == 2
    assert "arms[1].pay: 'dpd=99' is not a segment key" in result.output
    assert "Traceback" not in result.output
    unknown = runner.invoke(app, ["simulate", "baseline", "--policies", "thompson,magic"])
    assert unknown.exit_code == 2 and "unknown policy 'magic'" in unknown.output


def test_replay_prints_a_table_and_writes_json_and_report(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    write_csv(synthetic_log(7, rows=600), str(log))
    out, js = tmp_path / "replay.html", tmp_path / "replay.json"
    result = runner.invoke(
        app,
        ["replay", str(log), "--policy", "arm:friendly:sms", "--estimators", "replay,ips,snips,dr",
         "--json", str(js), "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for name in ("replay", "ips", "snips", "dr"):
        assert name in result.output
    estimates = json.loads(js.read_text())["estimates"]
    assert set(estimates) == {"replay", "ips", "snips", "dr"}
    assert all(e["low"] <= e["value"] <= e["high"] for e in estimates.values())
    assert not re.search(r"<script[^>]+src=", out.read_text())


def test_replay_errors_are_one_readable_line(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("decision_id,segment,arm\n1,a,b\n")
    result = runner.invoke(app, ["replay", str(log)])
    assert result.exit_code == 2
    assert "missing column(s) decided_at, propensity, paid" in result.output
    assert "Traceback" not in result.output


def test_an_output_path_that_is_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    for command in (
        ["simulate", "baseline", "--reps", "1", "--out", str(tmp_path)],
        ["simulate", "baseline", "--reps", "1", "--json", str(tmp_path)],
    ):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert "folder: give a file name" in " ".join(result.output.split())
        assert "Traceback" not in result.output


def test_brackets_in_problems_names_and_paths_are_printed_as_written(tmp_path: Path) -> None:
    """rich would read ``[population]`` as markup and print nothing in its place."""
    population = SCENARIO.replace("daily_volume = 300", "") + "\n[population]\nnew_per_day = 50\n"
    drift = tmp_path / "drift.toml"
    drift.write_text(population + '\n[[drift]]\nat_day = 2\narm = "firm:sms"\npay_factor = 0.5\n')
    result = runner.invoke(app, ["simulate", str(drift)])
    assert result.exit_code == 2, result.output
    assert "drift: not simulated with [population] yet" in result.output
    named = tmp_path / "[pilot]" / "tiny.toml"
    named.parent.mkdir()
    named.write_text(SCENARIO.replace('name = "tiny"', 'name = "[bold]tiny"'), encoding="utf-8")
    out = named.parent / "report.html"
    ran = runner.invoke(app, ["simulate", str(named), "--policies", "uniform", "--reps", "1",
                              "--out", str(out)])  # fmt: skip
    assert ran.exit_code == 0, ran.output
    text = "".join(ran.output.split())
    assert "[bold]tiny:1repsx8days" in text and f"report:{out}" in text
    log = tmp_path / "log[2].csv"
    write_csv(synthetic_log(7, rows=300), str(log))
    missing = runner.invoke(app, ["replay", str(log), "--policy", "arm:[nope]:sms"])
    assert missing.exit_code == 2
    assert "arm '[nope]:sms' never appears" in " ".join(missing.output.split())
    replayed = runner.invoke(app, ["replay", str(log), "--estimators", "ips"])
    assert replayed.exit_code == 0, replayed.output
    assert "uniform on log[2].csv: 300 decisions" in replayed.output
