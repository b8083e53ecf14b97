"""The channels a reminder can go out on, in the order every (N, C) array uses."""

from __future__ import annotations

from typing import Literal, get_args

Channel = Literal["email", "sms", "letter", "push", "voice"]
CHANNELS: tuple[str, ...] = get_args(Channel)
ALL_CHANNELS = "*"  # a rule over all channels together
