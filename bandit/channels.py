"""The channels a reminder can go out on, in the order every (N, C) array uses."""

from __future__ import annotations

CHANNELS: tuple[str, ...] = ("email", "sms", "letter", "push", "voice")
ALL_CHANNELS = "*"  # a rule over all channels together
