"""Does a second pooling level help a campaign that learns per step? (issue 14, item 4)

The service's prior is one level: each segment (e.g. ``risk=low|touch=3|last_outcome=none``)
borrows from its arm's campaign-wide rate. This experiment swaps, in the simulator only, the
evidence pipeline's prior for a two-level one and runs the built-in scenario `sequence`
(20 repetitions; thompson, thompson-flat and the oracle, as in bench_learning.py):

- ``none``: today's prior (one level);
- ``segment``: a segment borrows from "the segment without its history part" (risk=low over
  all its touches and outcomes), which borrows from the campaign (the issue's proposal);
- ``step``: a segment borrows from "its step without the debtor part" (touch=3|
  last_outcome=none over all risks), which borrows from the campaign.

Each level's weight is the beta-binomial method-of-moments weight of ``bandit.priors``
(``pooled_weight``) over the spread of its members around it. Printed per seed and level:
recovery rates, the recovery ratio thompson / thompson-flat, the regret ratio, and
thompson / oracle. Nothing here changes the service; it measures whether it should.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

import numpy as np

from bandit.priors import Prior, PriorSettings, pooled_weight
from bandit.stats import ArmStats, effective_trials
from simulations import load_scenario, simulate
from simulations.population import history_cells

# the modules (``bandit`` re-exports functions of the same names); the evidence module is patched
EVIDENCE = importlib.import_module("bandit.evidence")
POSTERIOR = importlib.import_module("bandit.posterior")
ONE_LEVEL_PRIOR = EVIDENCE.campaign_prior
ONE_PRIOR_POSTERIOR = POSTERIOR.posterior


def per_row_posterior(stats: ArmStats, prior: Prior, delays: Any, **kw: Any) -> Any:
    """The posterior with a prior per (segment, arm, outcome) as well as per (arm, outcome)."""
    if prior.alpha.ndim == 2:
        return ONE_PRIOR_POSTERIOR(stats, prior, delays, **kw)
    ones = np.ones(prior.alpha.shape[1:])
    post = ONE_PRIOR_POSTERIOR(stats, Prior(ones, ones), delays, **kw)
    post.alpha[...] += prior.alpha - 1.0
    post.beta[...] += prior.beta - 1.0
    return post


def two_level(mode: str, cells: int) -> Any:
    """The evidence pipeline's ``campaign_prior`` with a second level grouped by ``mode``."""

    def prior(pool: ArmStats, delays: Any, channels: Any, learning: Any, elapsed: Any) -> Prior:
        base = ONE_LEVEL_PRIOR(pool, delays, channels, learning, elapsed)
        rows = pool.successes.shape[0]
        if mode == "none" or not learning.pooled or cells == 1 or rows % cells:
            return base
        trials = effective_trials(pool, delays.arrived(elapsed), learning.half_life)
        successes = pool.successes
        index = np.arange(rows)
        group = index // cells if mode == "segment" else index % cells
        groups = int(group.max()) + 1
        settings = PriorSettings()
        g_succ = np.stack([successes[group == g].sum(axis=0) for g in range(groups)])
        g_trials = np.stack([trials[group == g].sum(axis=0) for g in range(groups)])
        upper = pooled_weight(g_succ, g_trials, settings)  # how much a group borrows
        g_rate = (g_succ + upper * base.mean) / (g_trials + upper)
        alpha, beta = np.empty_like(successes), np.empty_like(successes)
        for g in range(groups):
            weight = pooled_weight(successes[group == g], trials[group == g], settings)
            rate = np.clip(g_rate[g], 1e-6, 1 - 1e-6)
            alpha[group == g], beta[group == g] = weight * rate, weight * (1 - rate)
        return Prior(alpha, beta)

    return prior


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--seeds", default="2024,1,7")
    parser.add_argument("--levels", default="none,segment,step")
    args = parser.parse_args()
    cells, _ = history_cells(load_scenario("sequence"), "thompson")
    EVIDENCE.posterior = per_row_posterior
    print(f"sequence, {args.reps} reps; thompson learns per (risk, history cell): {cells} cells")
    for seed in (int(s) for s in args.seeds.split(",")):
        for mode in args.levels.split(","):
            EVIDENCE.campaign_prior = two_level(mode, cells)
            result = simulate("sequence", ["thompson", "thompson-flat", "oracle"], args.reps, seed)
            rec = {
                name: run.population["recovered"] / np.maximum(run.population["entered"], 1)
                for name, run in result.runs.items()
                if run.population is not None
            }
            regret = {name: run.total("regret").mean() for name, run in result.runs.items()}
            t, f, o = (rec[p].mean() for p in ("thompson", "thompson-flat", "oracle"))
            print(
                f"  seed {seed:>4} second level {mode:<8} recovery thompson {t:.4f} "
                f"flat {f:.4f} oracle {o:.4f}; thompson/flat {t / f:.3f}, regret ratio "
                f"{regret['thompson'] / regret['thompson-flat']:.3f}, thompson/oracle {t / o:.3f}"
            )


if __name__ == "__main__":
    main()
