"""Off-policy replay of logs with send slots: the logged action is (arm, slot) with the joint
propensity; ``arm:<arm>@<slot>`` fixes both, ``arm:<arm>`` takes that arm in a uniformly
random one of its logged slots; every estimator's interval covers the truth in >= 90% of
seeded logs."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from simulations.decision_log import read_log
from simulations.replay import replay
from tests.simulations.synthetic import ARMS, LOGGING, SEGMENT_SHARE, TRUE_RATE

SLOTS = ("08:00-11:00", "17:00-21:00")
# true factor and logging probability of each slot given the arm's channel
FACTOR = {"email": np.array([1.3, 0.7]), "sms": np.array([0.6, 1.4])}
SLOT_LOGGING = {"email": np.array([0.6, 0.4]), "sms": np.array([0.25, 0.75])}
POLICIES = (
    "arm:friendly:sms@17:00-21:00",
    "arm:friendly:sms",
    "arm:firm:email@08:00-11:00",
    "uniform",
)


def _channel(arm: int) -> str:
    return ARMS[arm].split(":")[1]


def true_value(policy: str) -> float:
    """V(pi) = sum_s P(s) sum_(k, t) pi(k, t | s) mu(s, k) f(c(k), t)."""
    rate = np.stack(
        [TRUE_RATE[:, k, None] * FACTOR[_channel(k)][None] for k in range(len(ARMS))], 1
    )
    if policy == "uniform":
        return float(SEGMENT_SHARE @ rate.reshape(len(SEGMENT_SHARE), -1).mean(axis=1))
    name = policy.removeprefix("arm:")
    arm, _, slot = name.partition("@")
    k = ARMS.index(arm)
    per_segment = rate[:, k, SLOTS.index(slot)] if slot else rate[:, k].mean(axis=1)
    return float(SEGMENT_SHARE @ per_segment)


def write_slotted_log(seed: int, path: Path, rows: int = 5000) -> None:
    """A log of a segment-dependent arm policy times a channel-dependent slot policy, in the
    export's format with the slot columns."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(len(SEGMENT_SHARE), size=rows, p=SEGMENT_SHARE)
    arm = (LOGGING[segment].cumsum(axis=1) < rng.random(rows)[:, None]).sum(axis=1)
    slot_p = np.array([SLOT_LOGGING[_channel(k)] for k in arm])
    slot = (slot_p.cumsum(axis=1) < rng.random(rows)[:, None]).sum(axis=1)
    factor = np.array([FACTOR[_channel(k)][t] for k, t in zip(arm, slot, strict=True)])
    paid = rng.random(rows) < TRUE_RATE[segment, arm] * factor
    arm_p = LOGGING[segment, arm]
    slot_given = slot_p[np.arange(rows), slot]
    days = np.sort(rng.uniform(20_000, 20_030, rows))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["decision_id", "decided_at", "campaign", "segment", "arm", "propensity", "opened",
             "clicked", "paid", "amount", "cost", "slot", "arm_propensity", "slot_propensity"]
        )  # fmt: skip
        for i in range(rows):
            stamp = datetime.fromtimestamp(float(days[i]) * 86_400.0, UTC)
            writer.writerow(
                [f"d-{i}", stamp.isoformat().replace("+00:00", "Z"), "loans", f"dpd={segment[i]}",
                 ARMS[arm[i]], repr(float(arm_p[i] * slot_given[i])), 0, 0, int(paid[i]),
                 120.0 * paid[i], 0.01, SLOTS[slot[i]], repr(float(arm_p[i])),
                 repr(float(slot_given[i]))]
            )  # fmt: skip


def test_the_logged_action_is_the_arm_in_its_slot(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    write_slotted_log(0, path, rows=200)
    log = read_log(path)
    assert all("@" in a for a in log.arms)
    assert set(log.arms) <= {f"{a}@{s}" for a in ARMS for s in SLOTS}
    with pytest.raises(ValueError, match="never appears"):
        replay(log, "arm:friendly:sms@12:00-13:00", ["ips"])


@pytest.mark.slow
def test_estimators_cover_the_truth_on_logs_with_slots(tmp_path: Path) -> None:
    covered: dict[tuple[str, str], list[bool]] = {}
    for seed in range(40):
        path = tmp_path / f"log-{seed}.csv"
        write_slotted_log(seed, path)
        log = read_log(path)
        for policy in POLICIES:
            result = replay(log, policy, ["ips", "snips", "dr"], resamples=1000, seed=seed)
            truth = true_value(policy)
            for name, est in result.estimates.items():
                covered.setdefault((policy, name), []).append(est.low <= truth <= est.high)
    rates = {key: float(np.mean(hits)) for key, hits in covered.items()}
    assert len(rates) == len(POLICIES) * 3
    assert all(rate >= 0.9 for rate in rates.values()), rates
