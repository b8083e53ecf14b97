"""The drawn arm's rendered message, judged before it is sent, and what it costs.

A message is sent only as it was judged at registration: an email or SMS shows the debtor's
own opt-out URL or a reply-STOP line (else ``missing_opt_out``), an SMS fits the campaign's
``sms_max_segments`` (else ``sms_too_long``). Neither is redrawn: the draw and its logged
propensity stay those of the policy. The logged cost of an SMS is the configured cost per
send times its segments (the policy keeps the cost per send).
"""

from __future__ import annotations

from collections.abc import Mapping

from api.schemas import Reason
from templates_store.catalog import ArmInfo
from templates_store.templating import (
    RenderedMessage,
    carries_opt_out,
    sms_info,
    sms_segments,
    too_long,
)

MISSING_OPT_OUT = (
    "the rendered {channel} shows neither the debtor's opt_out_url nor a reply-STOP line"
)


def refusal(
    arm: ArmInfo,
    message: RenderedMessage,
    variables: Mapping[str, object],
    sms_max_segments: int,
) -> Reason | None:
    """Why ``message`` may not be sent for ``arm``, or None."""
    if not carries_opt_out(arm.channel, message.body, variables.get("opt_out_url")):
        detail = MISSING_OPT_OUT.format(channel=arm.channel)
        return Reason(code="missing_opt_out", arm=arm.key, channel=arm.channel, detail=detail)
    if arm.channel == "sms":
        why = too_long(sms_info(message.body), sms_max_segments)
        if why is not None:
            detail = f"the rendered SMS {why}"
            return Reason(code="sms_too_long", arm=arm.key, channel=arm.channel, detail=detail)
    return None


def cost(arm: ArmInfo, message: RenderedMessage) -> float:
    """The logged cost of sending ``message``: per send, times its segments for an SMS."""
    return arm.cost * sms_segments(arm.channel, message.body)
