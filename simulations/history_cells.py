"""A population's history cells: which cell of (touch, last outcome level) a contact falls in
for a policy, and each cell's part of the segment key, as the service would write it.

The agent learns per (segment, history cell) row, keyed ``risk=low|touch=3+|last_outcome=none``
like the service's segment of a campaign with ``segment_by`` = the debtor attributes, then
the scenario's ``segment_by`` (``bandit.segment_keys``): the pooled prior's second level
groups the rows by that history part.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bandit.segment_keys import bucket_label, join
from bandit.sequence import OUTCOME_LEVELS
from bandit.stats import IntArray
from simulations.scenario import Scenario


def history_cells(
    sc: Scenario, policy: str
) -> tuple[int, Callable[[IntArray, IntArray], IntArray]]:
    """(H, cell): the policy's history cells per segment and the cell of (touch, last outcome
    level). The oracle sees every touch x outcome, ``thompson-flat`` none, the others the
    campaign's ``segment_by``."""
    assert sc.population is not None
    touches = sc.population.max_touches
    if policy == "oracle":
        return touches * 3, lambda touch, level: (touch - 1) * 3 + level
    by = _segment_by(sc, policy)
    edges = np.asarray(sc.campaign.buckets.get("touch", range(1, touches + 1)))
    n_touch = len(edges) if "touch" in by else 1
    n_level = 3 if "last_outcome" in by else 1

    def cell(touch: IntArray, level: IntArray) -> IntArray:
        t = np.searchsorted(edges, touch, side="right") - 1 if n_touch > 1 else 0 * touch
        lv = level if n_level > 1 else 0 * level
        return np.asarray(t * n_level + lv, dtype=np.int64)

    return n_touch * n_level, cell


def _segment_by(sc: Scenario, policy: str) -> tuple[str, ...]:
    if policy == "oracle":
        return ("touch", "last_outcome")
    return () if policy == "thompson-flat" else tuple(sc.campaign.segment_by)


def cell_keys(sc: Scenario, policy: str) -> list[str]:
    """Each of the policy's history cells (in ``history_cells`` order) as the history part of
    a segment key in ``segment_by`` order ("" when the policy has no history cells)."""
    assert sc.population is not None
    touches = sc.population.max_touches
    bucketed = "touch" in sc.campaign.buckets and policy != "oracle"
    edges = list(sc.campaign.buckets["touch"] if bucketed else range(1, touches + 1))
    by = _segment_by(sc, policy)
    labels = {
        "touch": [bucket_label(e, edges) if bucketed else str(e) for e in edges],
        "last_outcome": list(OUTCOME_LEVELS),
    }
    n_level = 3 if "last_outcome" in by else 1
    keys = []
    for t in range(len(edges) if "touch" in by else 1):
        for lv in range(n_level):
            at = {"touch": t, "last_outcome": lv}
            keys.append(join(f"{name}={labels[name][at[name]]}" for name in by) if by else "")
    return keys


def row_keys(segment_keys: list[str], cells: list[str]) -> tuple[str, ...]:
    """The key of each (segment, history cell) row, segments outer: the segment's key, then
    the cell's history part."""
    return tuple(f"{s}|{c}" if c else s for s in segment_keys for c in cells)
