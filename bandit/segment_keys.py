"""Segment keys, ``a=v|b=w``: how their parts are written and which parts are history.

The service builds a key from ``segment_by`` in order (``api/service/segments.py``), numbers
into bucket labels; the simulator builds the same keys for a population's segment x history
cells (``simulations/history_cells.py``). A key's **step** is its history part (the parts named
by ``bandit.sequence.HISTORY_ATTRIBUTES``): ``touch=3|last_outcome=none`` of
``risk=low|touch=3|last_outcome=none``. The pooled prior's second level groups segments by
their step (``bandit.priors.step_priors``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from functools import lru_cache

from bandit.sequence import HISTORY_ATTRIBUTES

SEPARATOR = "|"


def bucket_label(value: float, edges: Sequence[float]) -> str:
    """``dpd=45`` with edges [0, 31, 61, 91] -> "31-60"; the last bucket is open ("91+");
    a value below the first edge is a ValueError."""
    if value < edges[0]:
        raise ValueError(f"{value:g} is below the first bucket edge {edges[0]:g}")
    i = bisect.bisect_right(edges, value) - 1
    low = edges[i]
    if i == len(edges) - 1:
        return f"{_num(low)}+"
    high = edges[i + 1]
    upper = high - 1 if float(low).is_integer() and float(high).is_integer() else high
    return _num(low) if upper == low else f"{_num(low)}-{_num(upper)}"  # [1, 2): "1"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def join(parts: Iterable[str]) -> str:
    """``name=label`` parts as one key; "all" when there are none."""
    key = SEPARATOR.join(parts)
    return key or "all"


def attributes(key: str) -> dict[str, str]:
    """The ``name=value`` parts of a key as a mapping (a part without ``=`` is skipped)."""
    return dict(part.split("=", 1) for part in key.split(SEPARATOR) if "=" in part)


@lru_cache(maxsize=8192)
def step_of(key: str) -> str | None:
    """The key's history part, its step (``touch=3|last_outcome=none``); None unless the key
    has both a history part and a debtor part (a key of history attributes only is a step
    of its own: there is nothing to pool across)."""
    parts = key.split(SEPARATOR)
    history = [p for p in parts if p.split("=", 1)[0] in HISTORY_ATTRIBUTES]
    if not history or len(history) == len(parts):
        return None
    return SEPARATOR.join(history)


def steps_of(keys: Sequence[str] | None) -> list[str | None] | None:
    """Each key's step (None: no keys given)."""
    return None if keys is None else [step_of(k) for k in keys]


def debtor_part(key: str) -> str:
    """The key without its history part (``risk=low`` of ``risk=low|touch=3``): what send-time
    learning pools over (when to send is the debtor's, not the step's); the key itself when
    it has no history part or nothing else."""
    parts = key.split(SEPARATOR)
    debtor = [p for p in parts if p.split("=", 1)[0] not in HISTORY_ATTRIBUTES]
    return SEPARATOR.join(debtor) if debtor and len(debtor) < len(parts) else key
