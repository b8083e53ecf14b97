"""Frequency caps: at most ``max`` contacts in any rolling window of ``days`` days.

A contact at t is allowed only if every window of the cap's length that contains t stays
within the cap, counting the debtor's contacts before *and after* t: a back-dated decision,
or one that lost a race for its debtor's lock, must not squeeze a contact between existing
ones. A window ending at e holds the contacts in (e - window, e]; times are whole
microseconds since the epoch, so window edges are exact. Pure: no clock, no I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from numpy.typing import NDArray

from bandit.channels import ALL_CHANNELS, CHANNELS
from bandit.vocabulary import jurisdiction as place

MAX_CAP_DAYS = 36525.0
PER = ("debtor", "debt")
_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class Cap:
    """At most ``max`` contacts in any rolling window of ``days`` days on ``channel`` ("*": all
    channels together), for debtors of ``jurisdiction`` only (None: everyone), counting every
    contact of the debtor (``per`` "debtor") or only those about the decision's debt ("debt":
    Regulation F's 7 calls in 7 days is per debt)."""

    channel: str
    max: int
    days: float
    jurisdiction: str | None = None
    per: str = "debtor"

    def __post_init__(self) -> None:
        if self.per not in PER:
            raise ValueError(f"cap per must be one of {', '.join(PER)}, got {self.per!r}")
        if self.channel != ALL_CHANNELS and self.channel not in CHANNELS:
            allowed = ", ".join(CHANNELS)
            raise ValueError(f"cap channel must be one of {allowed} or '*', got {self.channel!r}")
        if isinstance(self.max, bool) or not isinstance(self.max, int) or self.max < 0:
            raise ValueError(f"cap max must be a whole number of contacts >= 0, got {self.max!r}")
        if not 0 < self.days <= MAX_CAP_DAYS:
            raise ValueError(f"cap days must be > 0 and <= {MAX_CAP_DAYS:g}, got {self.days!r}")
        object.__setattr__(self, "jurisdiction", place(self.jurisdiction))  # "ma" is "MA"

    @property
    def window_us(self) -> int:
        """The window length in microseconds."""
        return timedelta(days=self.days) // _US

    def applies(self, channel: str, jurisdiction: str | None) -> bool:
        """Whether this cap limits sends on ``channel`` to a debtor of ``jurisdiction``."""
        return self.channel in (ALL_CHANNELS, channel) and self.jurisdiction in (None, jurisdiction)


def in_window(times: Sequence[int], window: int, end: int) -> int:
    """Contacts in (end - window, end]; ``times`` sorted."""
    return bisect.bisect_right(times, end) - bisect.bisect_right(times, end - window)


def peak(times: Sequence[int], window: int, at: int) -> int:
    """The most contacts held by any window that contains ``at`` (those ending in
    [at, at + window)); ``times`` sorted. A window's count only rises when its end passes a
    contact, so the peak is at ``at`` itself or at a contact in (at, at + window)."""
    later = times[bisect.bisect_right(times, at) : bisect.bisect_left(times, at + window)]
    return max(in_window(times, window, end) for end in (at, *later))


def allows(times: Sequence[int], cap: Cap, at: int) -> bool:
    """Whether one more contact at ``at`` keeps every window that contains it within ``cap``."""
    return peak(times, cap.window_us, at) < cap.max


def free_at(times: Sequence[int], cap: Cap, at: int) -> int | None:
    """Earliest instant >= ``at`` at which ``cap`` allows a contact (None: never). Waiting
    only helps when a full window stops containing the instant, which happens when one of
    its contacts rolls out (that contact's time + window): so the answer is ``at`` or one of
    those."""
    window = cap.window_us
    candidates = [at, *(t + window for t in times if t + window > at)] if cap.max else []
    return next((u for u in candidates if allows(times, cap, u)), None)


def contact_times(history: Sequence[tuple[str, int]]) -> dict[str, list[int]]:
    """Sorted send times per channel, and over all channels under "*", from
    (channel, microseconds) pairs."""
    keys = (*CHANNELS, ALL_CHANNELS)
    return {k: sorted(t for c, t in history if k in (c, ALL_CHANNELS)) for k in keys}


def caps_ok(
    caps: Sequence[Cap],
    histories: Sequence[Sequence[tuple[str, int]]],
    jurisdictions: Sequence[str | None],
    at: int,
) -> NDArray[np.bool_]:
    """(N, C) whether one more contact at ``at`` on each channel keeps each debtor within
    every cap that applies to them; debtor i's past and future contacts are histories[i].
    One vectorised pass per cap over all debtors' contacts."""
    n = len(histories)
    ok = np.ones((n, len(CHANNELS)), dtype=np.bool_)
    owner = np.repeat(np.arange(n, dtype=np.int64), [len(h) for h in histories])
    times = np.fromiter((t for h in histories for _, t in h), dtype=np.int64, count=len(owner))
    index = {c: k for k, c in enumerate(CHANNELS)}
    channel = np.fromiter((index[c] for h in histories for c, _ in h), np.int64, len(owner))
    for cap in caps:
        applies = np.fromiter((cap.jurisdiction in (None, j) for j in jurisdictions), bool, n)
        if not applies.any():
            continue
        mine = owner, times
        if cap.channel != ALL_CHANNELS:
            on = channel == index[cap.channel]
            mine = owner[on], times[on]
        over = (_peaks(*mine, cap.window_us, at, n) >= cap.max) & applies
        ok[over, slice(None) if cap.channel == ALL_CHANNELS else index[cap.channel]] = False
    return ok


def _peaks(
    owner: NDArray[np.int64], times: NDArray[np.int64], window: int, at: int, n: int
) -> NDArray[np.int64]:
    """(N,) ``peak`` of each debtor's contacts (``owner``, ``times``) at ``at``: contacts are
    keyed ``owner * span + offset`` (offset from ``at - window``, in (0, 2 window)), sorted
    once, and each candidate window end (``at`` and every contact in [at, at + window)) is
    counted with two binary searches."""
    near = (times > at - window) & (times < at + window)
    owner, offset = owner[near], times[near] - (at - window)
    span = 2 * window + 1
    if n * span >= 2**62:  # keys would overflow: one debtor at a time (caps of ~a century)
        return np.array(
            [peak(sorted(at - window + offset[owner == i]), window, at) for i in range(n)],
            dtype=np.int64,
        )
    keys = np.sort(owner * span + offset)
    later = offset >= window
    ends_owner = np.concatenate([np.unique(owner), owner[later]])
    ends = np.concatenate([np.full(len(ends_owner) - int(later.sum()), window), offset[later]])
    base = ends_owner * span
    counts = np.searchsorted(keys, base + ends, "right") - np.searchsorted(
        keys, base + np.maximum(ends - window, 0), "right"
    )
    peaks = np.zeros(n, dtype=np.int64)
    np.maximum.at(peaks, ends_owner, counts)
    return peaks
