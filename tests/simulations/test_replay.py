"""Off-policy replay: interval coverage on logs with known truth, log errors, the thompson walk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulations import DecisionLogError, read_log, replay
from simulations.estimators import bootstrap_ratios
from tests.simulations.synthetic import synthetic_log, true_value, write_csv

POLICIES = ("uniform", "arm:friendly:sms")
LOGS = 100


@pytest.mark.slow
def test_every_estimators_interval_covers_the_truth_in_at_least_90_percent_of_logs() -> None:
    """100 uniformly logged logs for all four estimators (replay needs uniform logging), and
    100 logs from a skewed, segment-dependent logging policy for ips/snips/dr."""
    covered: dict[tuple[str, str, str], list[bool]] = {}
    for seed in range(LOGS):
        for uniform_logging in (True, False):
            log = synthetic_log(seed, rows=5000, uniform_logging=uniform_logging)
            names = ["replay", "ips", "snips", "dr"] if uniform_logging else ["ips", "snips", "dr"]
            kind = "uniform log" if uniform_logging else "skewed log"
            for policy in POLICIES:
                result = replay(log, policy, names, resamples=1000, seed=seed)
                truth = true_value(policy)
                for name, est in result.estimates.items():
                    covered.setdefault((kind, policy, name), []).append(
                        est.low <= truth <= est.high
                    )
    rates = {key: float(np.mean(hits)) for key, hits in covered.items()}
    assert len(rates) == 2 * 4 + 2 * 3
    assert all(rate >= 0.9 for rate in rates.values()), rates


def test_the_bootstrap_shortcut_for_repeated_rows_matches_resampling_rows() -> None:
    """Few distinct rows: counts per distinct row are one multinomial draw. Jittering the
    rewards makes every row distinct (the row-resampling path): same intervals, near enough."""
    rng = np.random.default_rng(0)
    reward = (rng.random(3000) < 0.2).astype(float)
    jitter = reward + rng.normal(0, 1e-6, 3000)
    ones = np.ones((1, 3000))
    fast = bootstrap_ratios(reward[None], ones, 4000, np.random.default_rng(1))[0]
    slow = bootstrap_ratios(jitter[None], ones, 4000, np.random.default_rng(2))[0]
    assert np.percentile(fast, [2.5, 97.5]) == pytest.approx(
        np.percentile(slow, [2.5, 97.5]), abs=2e-3
    )
    assert fast.std() == pytest.approx(np.sqrt(0.2 * 0.8 / 3000), rel=0.08)


def test_estimates_report_effective_sample_sizes() -> None:
    log = synthetic_log(1)
    result = replay(log, "arm:friendly:sms", ["ips", "snips", "dr"])
    chosen = log.arms.index("friendly:sms")
    for est in result.estimates.values():
        assert 0 < est.ess <= (log.arm == chosen).sum() + 1e-9
        assert est.low <= est.value <= est.high


def test_thompson_replay_learns_and_beats_uniform_on_a_uniform_log() -> None:
    log = synthetic_log(3, rows=8000, uniform_logging=True)
    thompson = replay(log, "thompson", ["replay", "ips", "snips", "dr"], seed=1)
    uniform = replay(log, "uniform", ["replay"], seed=1)
    assert thompson.accepted is not None and 1500 < thompson.accepted < 2500  # ~1/4 of rows
    assert thompson.estimates["replay"].low > uniform.estimates["replay"].high
    assert list(thompson.estimates) == ["replay", "ips", "snips", "dr"]


def test_replay_warns_when_the_log_is_not_uniform() -> None:
    result = replay(synthetic_log(2), "uniform", ["replay"])
    assert any("uniformly logged" in note for note in result.notes)


def test_a_csv_round_trip_gives_the_same_estimates(tmp_path: Path) -> None:
    log = synthetic_log(4, rows=500)
    path = tmp_path / "log.csv"
    write_csv(log, str(path))
    again = read_log(path)
    assert again.arms == log.arms and again.segments == log.segments
    assert np.allclose(again.propensity, log.propensity)
    a = replay(log, "uniform", ["ips"]).estimates["ips"]
    b = replay(path, "uniform", ["ips"]).estimates["ips"]
    assert a.value == pytest.approx(b.value)
    net = read_log(path, objective="net_recovery")
    assert np.allclose(net.reward, 120.0 * log.reward - 0.01)


HEADER = "decision_id,decided_at,campaign,segment,arm,propensity,opened,clicked,paid,amount,cost"
ROW = "d-1,2025-03-01T10:00:00Z,loans,dpd=0-30,friendly:sms,0.25,0,1,1,120.0,0.01"

BAD_LOGS = [
    ("", "the file is empty"),
    (HEADER + "\n", "the log has a header but no decisions"),
    ("decision_id,segment,arm,paid\nd-1,a,b,1\n", "missing column\\(s\\) decided_at, propensity"),
    (HEADER + "\n" + ROW.replace(",0.25,", ",0,"), "line 2: propensity 0 is outside \\(0, 1\\]"),
    (
        HEADER + "\n" + ROW + "\n" + ROW.replace(",0.25,", ",1.5,"),
        "line 3: propensity 1.5 is outside",
    ),
    (HEADER + "\n" + ROW.replace(",0.25,", ",abc,"), "line 2: propensity 'abc' is not a number"),
    (HEADER + "\n" + ROW.replace(",1,120.0", ",2,120.0"), "line 2: paid must be 0 or 1, got '2'"),
    (
        HEADER + "\n" + ROW.replace("2025-03-01T10:00:00Z", "yesterday"),
        "decided_at 'yesterday' is not an ISO 8601",
    ),
    (HEADER + "\n" + ROW.replace("dpd=0-30", ""), "line 2: segment is empty"),
]


@pytest.mark.parametrize(("text", "message"), BAD_LOGS, ids=[m[:30] for _, m in BAD_LOGS])
def test_bad_logs_fail_with_a_clear_message(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "log.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DecisionLogError, match=message):
        read_log(path)


def test_a_reward_column_replaces_the_outcomes(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    rows = [f"d-{i},2025-03-0{1 + i % 3}T10:00:00+00:00,a,b:sms,0.5,{i % 2}" for i in range(6)]
    path.write_text("decision_id,decided_at,segment,arm,propensity,reward\n" + "\n".join(rows))
    log = read_log(path)
    assert log.reward.tolist() == [0, 1, 1, 0, 0, 1]  # sorted by time: rows 0, 3, 1, 4, 2, 5
    assert log.paid is None and len(log) == 6


@pytest.mark.parametrize(
    ("policy", "estimators", "message"),
    [
        ("arm:nope:sms", "ips", "arm 'nope:sms' never appears"),
        ("greedy", "ips", "unknown replay policy 'greedy'"),
        ("uniform", "ips,magic", "unknown estimator 'magic'"),
    ],
)
def test_bad_policies_and_estimators_are_named(policy: str, estimators: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replay(synthetic_log(0, rows=200), policy, estimators)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DecisionLogError, match="no such file"):
        read_log(tmp_path / "nope.csv")
