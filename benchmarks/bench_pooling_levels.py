"""Does the second pooling level help a campaign that learns per step? (issue 14, item 4)

The service's pooled prior has two levels (``bandit.priors.step_priors``): a segment such as
``risk=low|touch=3|last_outcome=none`` borrows its step's pooled rate (``touch=3|
last_outcome=none`` over every risk), which borrows its arm's campaign-wide rate. This
benchmark runs the built-in scenario `sequence` (20 repetitions; thompson, thompson-flat and
the oracle, as in bench_learning.py) with the evidence pipeline's grouping of segments swapped,
in the simulator only:

- ``none``: one level, every segment borrows the campaign's rate (the service before);
- ``segment``: a segment borrows from "the segment without its history part" (risk=low over
  all its touches and outcomes), which borrows from the campaign (the rejected alternative);
- ``step``: the service's own two levels (nothing swapped).

Every level's weight is the beta-binomial method-of-moments weight of ``bandit.priors``. Printed
per seed and level: recovery rates, the recovery ratio thompson / thompson-flat, the regret
ratio, and thompson / oracle.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence

import numpy as np

from bandit.segment_keys import SEPARATOR, step_of, steps_of
from bandit.sequence import HISTORY_ATTRIBUTES
from simulations import simulate

# the module (``bandit`` re-exports functions of the same names): its ``steps_of`` is swapped
EVIDENCE = importlib.import_module("bandit.evidence")
Grouping = Callable[[Sequence[str] | None], list[str | None] | None]


def debtor_part(keys: Sequence[str] | None) -> list[str | None] | None:
    """Each key's part without its history attributes (where it has a step), as its group."""
    if keys is None:
        return None
    return [
        SEPARATOR.join(
            p for p in k.split(SEPARATOR) if p.split("=", 1)[0] not in HISTORY_ATTRIBUTES
        )
        if step_of(k) is not None
        else None
        for k in keys
    ]


def one_level(keys: Sequence[str] | None) -> list[str | None] | None:
    return None


LEVELS: dict[str, Grouping] = {"none": one_level, "segment": debtor_part, "step": steps_of}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--seeds", default="2024,1,7")
    parser.add_argument("--levels", default="none,segment,step")
    args = parser.parse_args()
    print(f"sequence, {args.reps} reps; thompson learns per (risk, history cell)")
    for seed in (int(s) for s in args.seeds.split(",")):
        for mode in args.levels.split(","):
            EVIDENCE.steps_of = LEVELS[mode]
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
    EVIDENCE.steps_of = steps_of


if __name__ == "__main__":
    main()
