"""The outcomes a reminder can have, in the order every (..., O) array uses, and which of
them each channel can report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

OUTCOMES: tuple[str, ...] = ("open", "click", "pay")
OPEN, CLICK, PAY = (OUTCOMES.index(o) for o in ("open", "click", "pay"))

# Which outcomes each channel can report (open, click, pay): a letter is never "opened" for
# us, an SMS open is not tracked, a voice call has no click (a voice "open" is an answered
# call). Untracked outcomes count 0 in a weighted objective.
TRACKED_OUTCOMES: Mapping[str, tuple[bool, bool, bool]] = {
    "email": (True, True, True),
    "sms": (False, True, True),
    "letter": (False, False, True),
    "push": (True, True, True),
    "voice": (True, False, True),
}


def tracked(channels: Sequence[str]) -> NDArray[np.bool_]:
    """Which outcomes each arm's channel reports; (K, O), all for a channel not listed."""
    every = (True,) * len(OUTCOMES)
    return np.array([TRACKED_OUTCOMES.get(c, every) for c in channels], dtype=bool).reshape(
        len(channels), len(OUTCOMES)
    )
