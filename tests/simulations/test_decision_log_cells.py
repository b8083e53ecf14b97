"""CSV cells a spreadsheet would run as formulas are neutralised on export and read back
unchanged by replay (simulations.decision_log.neutralise / restore)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bandit.log_cells import neutralise, restore
from simulations.decision_log import read_log

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CELLS = st.text(alphabet=st.sampled_from(["'", *TRIGGERS, "a", "1", ".", " ", "\n"]), max_size=8)


@given(st.one_of(CELLS, st.text(max_size=30)))
def test_neutralised_cells_never_start_a_formula_and_restore_exactly(cell: str) -> None:
    written = neutralise(cell)
    assert not written.startswith(TRIGGERS)
    assert restore(written) == cell
    if not cell.startswith(TRIGGERS) and not cell.startswith("'"):
        assert written == cell  # ordinary text is written as it is


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("-1.5", "'-1.5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("'=x", "''=x"),  # already quoted by hand: one more, so restore gives it back
        ("'x", "'x"),
        ("risk=high|dpd=31-60", "risk=high|dpd=31-60"),
    ],
)
def test_neutralise(cell: str, written: str) -> None:
    assert neutralise(cell) == written


def test_replay_reads_a_neutralised_log_unchanged(tmp_path: Path) -> None:
    segments = ["=1+1", "-x", "\tpad", "a\r\nb", "plain", " spaced "]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["decision_id", "decided_at", "segment", "arm", "propensity", "paid"])
    for n, segment in enumerate(segments):
        arm = "+t:sms" if n % 2 else "t:email"
        row = [f"d{n}", "2025-01-01T00:00:00Z", neutralise(segment), neutralise(arm), "0.5", "1"]
        writer.writerow(row)
    path = tmp_path / "log.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    log = read_log(path)
    # neutralised cells come back exactly; others as before (stripped of surrounding spaces)
    assert set(log.segments) == {"=1+1", "-x", "\tpad", "a\r\nb", "plain", "spaced"}
    assert set(log.arms) == {"+t:sms", "t:email"}
