"""Synthetic decision logs with known truth, for the off-policy estimator tests."""

from __future__ import annotations

import numpy as np

from simulations.decision_log import DecisionLog

SEGMENT_SHARE = np.array([0.4, 0.3, 0.2, 0.1])
ARMS = ("firm:email", "friendly:email", "friendly:sms", "instalment:sms")
# True pay rate per (segment, arm): fixed, so every log shares the same truth.
TRUE_RATE = np.array(
    [
        [0.10, 0.14, 0.20, 0.16],
        [0.08, 0.12, 0.10, 0.18],
        [0.25, 0.15, 0.12, 0.10],
        [0.05, 0.07, 0.30, 0.12],
    ]
)
# A non-uniform, segment-dependent logging policy (rows sum to 1, every arm >= 5%).
LOGGING = np.array(
    [
        [0.10, 0.20, 0.55, 0.15],
        [0.05, 0.15, 0.20, 0.60],
        [0.60, 0.20, 0.10, 0.10],
        [0.10, 0.10, 0.70, 0.10],
    ]
)


def true_value(policy: str) -> float:
    """V(pi) = sum_s P(s) sum_a pi(a | s) mu(s, a)."""
    if policy == "uniform":
        return float(SEGMENT_SHARE @ TRUE_RATE.mean(axis=1))
    arm = ARMS.index(policy.removeprefix("arm:"))
    return float(SEGMENT_SHARE @ TRUE_RATE[:, arm])


def synthetic_log(seed: int, rows: int = 2000, uniform_logging: bool = False) -> DecisionLog:
    """Segments by share, arms by the logging policy, pays by the true rates, over 30 days."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(len(SEGMENT_SHARE), size=rows, p=SEGMENT_SHARE)
    logging = np.full_like(LOGGING, 1 / len(ARMS)) if uniform_logging else LOGGING
    cumulative = logging[segment].cumsum(axis=1)
    arm = (cumulative < rng.random(rows)[:, None]).sum(axis=1)
    paid = (rng.random(rows) < TRUE_RATE[segment, arm]).astype(float)
    return DecisionLog.from_columns(
        decided_at=np.sort(rng.uniform(20_000, 20_030, rows)),
        segment=[f"dpd={s}" for s in segment],
        arm=[ARMS[a] for a in arm],
        propensity=logging[segment, arm],
        reward=paid,
        paid=paid,
        source=f"synthetic-{seed}",
    )


def write_csv(log: DecisionLog, path: str) -> None:
    """The log in the API's export format (PRODUCT.md "Decision log format")."""
    import csv
    from datetime import UTC, datetime

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["decision_id", "decided_at", "campaign", "segment", "arm", "propensity",
             "opened", "clicked", "paid", "amount", "cost"]
        )  # fmt: skip
        for i in range(len(log)):
            stamp = datetime.fromtimestamp(float(log.decided_at[i]) * 86_400.0, UTC)
            paid = int(log.reward[i])
            writer.writerow(
                [f"d-{i}", stamp.isoformat().replace("+00:00", "Z"), "loans-de",
                 log.segments[log.segment[i]], log.arms[log.arm[i]], repr(float(log.propensity[i])),
                 0, 0, paid, 120.0 * paid, 0.01]
            )  # fmt: skip
