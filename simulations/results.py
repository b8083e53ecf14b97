"""Result records of a simulation, the JSON summary of PRODUCT.md, and bands over repetitions.

Reports and notebooks read these records; nothing here runs a policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bandit.stats import FloatArray

DAILY_FIELDS: tuple[str, ...] = (
    "decisions",
    "regret",
    "value",
    "best",
    "pays",
    "amount",
    "cost",
    "unreachable",
)
FINAL_SHARE = 0.2  # final_best_arm_share: the last 20% of days


def band(values: FloatArray) -> dict[str, float]:
    """Mean with the 2.5th and 97.5th percentiles over repetitions (the spread of one run)."""
    v = np.asarray(values, dtype=np.float64)
    low, high = np.percentile(v, [2.5, 97.5])
    return {"mean": _round(v.mean()), "low": _round(low), "high": _round(high)}


def _round(x: float) -> float:
    """12 significant digits: stable JSON across summation orders, exact enough for analysts."""
    return float(f"{float(x):.12g}")


POPULATION_SUMMARY: tuple[str, ...] = (
    "recovery_rate",
    "contacts_per_payer",
    "opt_outs",
    "cost_per_recovered",
    "guardrail_pauses",
)


def population_figures(totals: dict[str, FloatArray], cost: FloatArray) -> dict[str, Any]:
    """recovery_rate, contacts_per_payer, opt_outs, cost_per_recovered and guardrail_pauses
    (arms a guardrail stopped) with their bands."""
    recovered = totals["recovered"]
    return {
        "recovery_rate": band(recovered / np.maximum(totals["entered"], 1)),
        "contacts_per_payer": band(totals["contacts"] / np.maximum(recovered, 1)),
        "opt_outs": band(totals["opt_outs"]),
        "cost_per_recovered": band(cost / np.maximum(totals["recovered_amount"], 1e-9)),
        "guardrail_pauses": band(totals.get("guardrail_pauses", np.zeros_like(recovered))),
    }


@dataclass(frozen=True)
class PolicyRun:
    """One policy over all repetitions. ``daily`` maps each of ``DAILY_FIELDS`` to (R, D);
    ``allocation`` (D, S, K) share of each segment's decisions per arm, over repetitions;
    ``posterior_mean``/``low``/``high`` (S, K): repetition 0's final posterior of the pay rate
    (None for policies that do not learn)."""

    policy: str
    daily: dict[str, FloatArray]
    allocation: FloatArray
    posterior_mean: FloatArray | None = None
    posterior_low: FloatArray | None = None
    posterior_high: FloatArray | None = None
    population: dict[str, FloatArray] | None = None  # [population] totals per repetition (R,)
    recovery_curve: FloatArray | None = None  # (R, D) share of entry cohorts paid by day

    def total(self, field: str) -> FloatArray:
        """Per repetition, summed over days; (R,)."""
        return np.asarray(self.daily[field].sum(axis=1), dtype=np.float64)

    def cumulative(self, field: str) -> FloatArray:
        """Per repetition, running sum over days; (R, D)."""
        return np.asarray(np.cumsum(self.daily[field], axis=1), dtype=np.float64)

    def best_arm_share(self, last: float = 1.0) -> FloatArray:
        """Share of decisions that went to the segment's best eligible arm, over the last
        ``last`` share of days; (R,)."""
        days = self.daily["decisions"].shape[1]
        start = days - max(1, round(last * days))
        best = self.daily["best"][:, start:].sum(axis=1)
        return np.asarray(best / np.maximum(self.daily["decisions"][:, start:].sum(axis=1), 1))


@dataclass(frozen=True)
class SimulationResult:
    """Everything a simulation produced: per policy records plus the truth they were scored on.
    ``segment_share`` (S,) traffic shares; ``truth_pay`` (S, K) the true pay rate on the last
    day."""

    scenario: str
    objective: str
    seed: int
    reps: int
    days: int
    segments: tuple[str, ...]
    arms: tuple[str, ...]
    segment_share: FloatArray
    truth_pay: FloatArray
    runs: dict[str, PolicyRun]

    def summary(self) -> dict[str, Any]:
        """The JSON summary of PRODUCT.md: each figure a mean with its 95% band over reps."""
        policies = {}
        for name, run in self.runs.items():
            paid, cost = run.total("amount"), run.total("cost")
            policies[name] = {
                "regret": band(run.total("regret")),
                "value": band(run.total("value")),
                "decisions": band(run.total("decisions")),
                "pays": band(run.total("pays")),
                "amount": band(paid),
                "cost": band(cost),
                "net": band(paid - cost),
                "best_arm_share": band(run.best_arm_share()),
                "final_best_arm_share": band(run.best_arm_share(FINAL_SHARE)),
            }
            if run.population is not None:
                policies[name].update(population_figures(run.population, cost))
        return {
            "scenario": self.scenario,
            "objective": self.objective,
            "seed": self.seed,
            "reps": self.reps,
            "days": self.days,
            "segments": len(self.segments),
            "arms": len(self.arms),
            "policies": policies,
        }

    def to_json(self) -> str:
        return json.dumps(self.summary(), indent=2, sort_keys=False)

    def write_json(self, path: str | Path) -> Path:
        out = Path(path)
        out.write_text(self.to_json() + "\n", encoding="utf-8")
        return out

    def records(self) -> list[dict[str, Any]]:
        """One record per (policy, repetition, day), e.g. for ``pandas.DataFrame(records)``."""
        rows: list[dict[str, Any]] = []
        for name, run in self.runs.items():
            cumulative = run.cumulative("regret")
            reps, days = cumulative.shape
            for r in range(reps):
                for d in range(days):
                    row: dict[str, Any] = {"policy": name, "rep": r, "day": d}
                    row.update({f: float(run.daily[f][r, d]) for f in DAILY_FIELDS})
                    row["net"] = row["amount"] - row["cost"]
                    row["cumulative_regret"] = float(cumulative[r, d])
                    rows.append(row)
        return rows
