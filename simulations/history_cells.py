"""A population's history cells: which cell of the history attributes a contact falls in for a
policy, and each cell's part of the segment key, as the service would write it.

The agent learns per (segment, history cell) row, keyed ``risk=low|touch=3+|last_outcome=none``
like the service's segment of a campaign with ``segment_by`` = the debtor attributes, then
the history attributes of the scenario's ``segment_by`` in its order (``bandit.segment_keys``;
``CampaignSpec.history_by``: a debtor attribute there, ``risk``, is already in the segment key
and adds no cells): the pooled prior's second level groups the rows by that history part.
Every history attribute of the service may be in ``segment_by``: ``touch`` and
``days_since_last`` by the ``buckets`` given (else each value its own cell), ``last_outcome``
by level, ``last_channel`` by the scenario's channels; a first contact has ``none`` for the
last two and for ``days_since_last``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bandit.segment_keys import bucket_label, join
from bandit.sequence import OUTCOME_LEVELS
from bandit.stats import IntArray
from simulations.scenario import Scenario

NONE = "none"  # the label of an attribute a first contact does not have yet


@dataclass(frozen=True)
class Contacts:
    """Due contacts' history (n,): touch number, previous outcome level, whole days since
    the previous contact and the index of its channel in ``scenario_channels`` (-1: none)."""

    touch: IntArray
    level: IntArray
    since: IntArray
    channel: IntArray


@dataclass(frozen=True)
class _Dimension:
    labels: list[str]
    index: Callable[[Contacts], IntArray]


def scenario_channels(sc: Scenario) -> tuple[str, ...]:
    """The scenario's channels in the order its arms first name them."""
    return tuple(dict.fromkeys(a.channel for a in sc.arms))


def _numbered(
    values: Sequence[int], edges: Sequence[int] | None, first: int, none: bool
) -> tuple[list[str], Callable[[IntArray], IntArray]]:
    """Labels and cell index of a whole-number attribute: by bucket edges, else one cell per
    value from ``first`` (the last cell holds every larger value); with ``none`` a cell 0 for
    -1 (no previous contact)."""
    cuts = np.asarray(edges if edges is not None else values)
    if edges is not None:
        labels = [bucket_label(e, list(edges)) for e in edges]
    else:
        labels = [str(v) for v in values]
    offset = 1 if none else 0

    def index(value: IntArray) -> IntArray:
        cell = np.clip(np.searchsorted(cuts, np.maximum(value, first), side="right") - 1, 0, None)
        return np.where(value < 0, 0, cell + offset) if none else cell

    return ([NONE] if none else []) + labels, index


def _of(field: str, index: Callable[[IntArray], IntArray]) -> Callable[[Contacts], IntArray]:
    return lambda contacts: index(getattr(contacts, field))


def _dimensions(sc: Scenario, policy: str) -> list[_Dimension]:
    assert sc.population is not None
    by: tuple[str, ...]
    if policy == "oracle":  # the truth depends on the touch and the previous outcome only
        by, buckets = ("touch", "last_outcome"), {}
    else:
        by = () if policy == "thompson-flat" else sc.campaign.history_by
        buckets = sc.campaign.buckets
    out = []
    for name in by:
        if name == "touch":
            values = range(1, sc.population.max_touches + 1)
            labels, index = _numbered(values, buckets.get("touch"), 1, none=False)
            out.append(_Dimension(labels, _of("touch", index)))
        elif name == "days_since_last":
            values = range(0, sc.days + 1)
            labels, index = _numbered(values, buckets.get("days_since_last"), 0, none=True)
            out.append(_Dimension(labels, _of("since", index)))
        elif name == "last_outcome":
            out.append(_Dimension(list(OUTCOME_LEVELS), lambda c: c.level))
        else:  # last_channel
            labels = [NONE, *scenario_channels(sc)]
            out.append(_Dimension(labels, lambda c: c.channel + 1))
    return out


def history_cells(sc: Scenario, policy: str) -> tuple[int, Callable[[Contacts], IntArray]]:
    """(H, cell): the policy's history cells per segment and the cell of each contact, the
    first history attribute of ``segment_by`` outermost. The oracle sees every touch x outcome
    level (cell ``(touch - 1) * 3 + level``), ``thompson-flat`` none, the others the history
    attributes of the campaign's ``segment_by``."""
    dims = _dimensions(sc, policy)

    def cell(contacts: Contacts) -> IntArray:
        out = np.zeros(len(contacts.touch), dtype=np.int64)
        for dim in dims:
            out = out * len(dim.labels) + np.asarray(dim.index(contacts), dtype=np.int64)
        return out

    return int(np.prod([len(d.labels) for d in dims])), cell


def cell_keys(sc: Scenario, policy: str) -> list[str]:
    """Each of the policy's history cells (in ``history_cells`` order) as the history part of
    a segment key in ``segment_by`` order ("" when the policy has no history cells)."""
    dims = _dimensions(sc, policy)
    if not dims:
        return [""]
    by = ("touch", "last_outcome") if policy == "oracle" else sc.campaign.history_by
    keys = [""]
    for name, dim in zip(by, dims, strict=True):
        keys = [join(p for p in (k, f"{name}={label}") if p) for k in keys for label in dim.labels]
    return keys


def row_keys(segment_keys: list[str], cells: list[str]) -> tuple[str, ...]:
    """The key of each (segment, history cell) row, segments outer: the segment's key, then
    the cell's history part."""
    return tuple(f"{s}|{c}" if c else s for s in segment_keys for c in cells)
