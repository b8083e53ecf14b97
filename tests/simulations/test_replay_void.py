"""Replay leaves out the decisions the export marks ``void`` (voided before their send_at:
neither a contact nor a trial) and says how many; a log without the column is unchanged."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from simulations import DecisionLogError, read_log, replay
from simulations.cli import replay as replay_command
from tests.simulations.synthetic import synthetic_log, write_csv

ROWS = 600
VOIDED = 70


def _with_void_column(plain: Path, out: Path, voided: int, void_cell: str = "0") -> None:
    """The plain export plus a ``void`` column, and ``voided`` void rows spread through time
    that would change every estimate if they counted: all paid, on one arm (and a few on an
    arm no kept row has), with a small propensity."""
    with plain.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    kept = [[*row, void_cell] for row in body]
    void_rows = []
    for i in range(voided):
        row = list(body[(i * 7) % len(body)])
        row[0] = f"void-{i}"
        row[4] = "ghost:letter" if i % 10 == 0 else "friendly:sms"
        row[5] = "0.05"
        row[8], row[9] = "1", "120.0"
        void_rows.append([*row, "1"])
    mixed = [row for pair in zip(kept, void_rows, strict=False) for row in pair]
    mixed += kept[len(void_rows) :]
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*header, "void"])
        writer.writerows(mixed)


@pytest.fixture
def logs(tmp_path: Path) -> tuple[Path, Path]:
    plain = tmp_path / "plain.csv"
    write_csv(synthetic_log(11, rows=ROWS, uniform_logging=True), str(plain))
    voided = tmp_path / "voided.csv"
    _with_void_column(plain, voided, VOIDED)
    return plain, voided


@pytest.mark.parametrize("policy", ["uniform", "arm:friendly:sms", "thompson"])
def test_void_rows_are_left_out_of_every_estimate(logs: tuple[Path, Path], policy: str) -> None:
    plain, voided = logs
    names = ["replay", "ips", "snips", "dr"]
    a = replay(plain, policy, names, seed=3)
    b = replay(voided, policy, names, seed=3)
    assert b.rows == a.rows == ROWS and b.voided == VOIDED and a.voided == 0
    assert b.arms == a.arms and "ghost:letter" not in b.arms
    assert b.logged_value == a.logged_value and b.accepted == a.accepted
    for name in names:
        assert b.estimates[name].as_dict() == a.estimates[name].as_dict()
    assert f"{VOIDED} void decisions left out" in " ".join(b.notes)
    assert not any("void" in note for note in a.notes)
    assert b.summary()["void_left_out"] == VOIDED and a.summary()["void_left_out"] == 0


def test_a_blank_or_zero_void_cell_is_not_void(tmp_path: Path, logs: tuple[Path, Path]) -> None:
    plain, _ = logs
    for cell in ("", "0"):
        path = tmp_path / f"void-{cell or 'blank'}.csv"
        _with_void_column(plain, path, 0, void_cell=cell)
        log = read_log(path)
        assert len(log) == ROWS and log.voided == 0


def test_a_bad_void_cell_and_an_all_void_log_are_clear_errors(
    tmp_path: Path, logs: tuple[Path, Path]
) -> None:
    plain, _ = logs
    bad = tmp_path / "bad.csv"
    _with_void_column(plain, bad, 0, void_cell="yes")
    with pytest.raises(DecisionLogError, match="line 2: void 'yes' is not a number"):
        read_log(bad)
    every = tmp_path / "every.csv"
    _with_void_column(plain, every, 0, void_cell="1")
    with pytest.raises(DecisionLogError, match=f"all {ROWS} decisions are void"):
        read_log(every)


def test_the_command_says_how_many_void_decisions_it_left_out(
    tmp_path: Path, logs: tuple[Path, Path]
) -> None:
    app = typer.Typer()
    app.command()(replay_command)
    app.command(name="noop")(lambda: None)  # two commands: the first word names the command
    _, voided = logs
    js = tmp_path / "out.json"
    result = CliRunner().invoke(
        app, ["replay", str(voided), "--policy", "uniform", "--json", str(js)]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"{ROWS} decisions" in text and f"{ROWS + VOIDED} decisions" not in text
    assert f"note: {VOIDED} void decisions left out" in text
    assert json.loads(js.read_text())["void_left_out"] == VOIDED
