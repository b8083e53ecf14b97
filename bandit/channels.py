"""The channels a reminder can go out on, in the order every (N, C) array uses: the one list
(the API's schemas, template validation, eligibility and the simulator all take it from here)."""

from __future__ import annotations

from typing import Literal, get_args

Channel = Literal["email", "sms", "letter", "push", "voice"]
CHANNELS: tuple[str, ...] = get_args(Channel)
ALL_CHANNELS = "*"  # a rule over all channels together (a cap, an opt-out of every channel)
