"""Guardrails: stop an arm whose rate of a harmful outcome per send is probably above its limit.

PRODUCT.md "Guardrails". For each guarded outcome (``opt_out``, ``complaint``) an arm's rate
per send has the posterior Beta(1 + count, 1 / max_rate + sends - count), from the prior
Beta(1, 1 / max_rate) (mean about ``max_rate``, the weight of 1 / max_rate sends: a handful
of early outcomes does not breach it). The arm breaches the guardrail when
P(rate > max_rate) passes ``THRESHOLD``. Checked when an outcome arrives: between arrivals
sends only add evidence of a lower rate, so checking then misses nothing. Pure: counts in,
figures out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

GUARDED_OUTCOMES: tuple[str, ...] = ("opt_out", "complaint")
THRESHOLD = 0.95  # P(rate > max_rate) above which an arm is stopped


@dataclass(frozen=True)
class Guardrail:
    """At most ``max_rate`` of an arm's sends may end in ``outcome``."""

    outcome: str
    max_rate: float

    def __post_init__(self) -> None:
        if self.outcome not in GUARDED_OUTCOMES:
            allowed = ", ".join(GUARDED_OUTCOMES)
            raise ValueError(f"guardrail outcome must be one of {allowed}, got {self.outcome!r}")
        if not 0 < self.max_rate < 1:
            raise ValueError(f"guardrail max_rate must be in (0, 1), got {self.max_rate!r}")


def posterior(rail: Guardrail, sends: int, count: int) -> tuple[float, float]:
    """Beta parameters of the rate after ``count`` outcomes among ``sends`` sends."""
    if sends < 0 or count < 0:
        raise ValueError(f"sends and count must be >= 0, got {sends}, {count}")
    return 1.0 + count, 1.0 / rail.max_rate + max(sends - count, 0)


def p_exceed(rail: Guardrail, sends: int, count: int) -> float:
    """P(rate > max_rate) under the posterior."""
    a, b = posterior(rail, sends, count)
    return float(min(max(stats.beta.sf(rail.max_rate, a, b), 0.0), 1.0))


def breached_many(rail: Guardrail, sends: IntArray, counts: IntArray) -> BoolArray:
    """``read(rail, s, c).breached`` for arrays of sends and counts at once (the simulator)."""
    a = 1.0 + counts
    b = 1.0 / rail.max_rate + np.maximum(sends - counts, 0)
    return np.asarray(stats.beta.sf(rail.max_rate, a, b) > THRESHOLD, dtype=np.bool_)


def interval(rail: Guardrail, sends: int, count: int, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` interval of the rate's posterior."""
    a, b = posterior(rail, sends, count)
    low, high = stats.beta.ppf([(1 - level) / 2, (1 + level) / 2], a, b)
    return float(low), float(high)


@dataclass(frozen=True)
class Reading:
    """One guardrail of one arm: its figures and whether it is breached."""

    outcome: str
    max_rate: float
    sends: int
    count: int
    p_exceed: float

    @property
    def breached(self) -> bool:
        return self.p_exceed > THRESHOLD


def read(rail: Guardrail, sends: int, count: int) -> Reading:
    return Reading(rail.outcome, rail.max_rate, sends, count, p_exceed(rail, sends, count))


def readings(rails: Iterable[Guardrail], sends: int, counts: Mapping[str, int]) -> list[Reading]:
    """Every guardrail's reading for an arm with ``sends`` and ``counts`` per outcome."""
    return [read(rail, sends, counts.get(rail.outcome, 0)) for rail in rails]


def worst(found: Iterable[Reading]) -> Reading | None:
    """The breached reading if any (the most certain), else the closest to breaching."""
    return max(found, key=lambda r: (r.breached, r.p_exceed), default=None)
