"""What a rendered message must be to be sent, judged on the text itself: an email or SMS
carries an opt-out (the debtor's opt-out URL, or a reply-STOP line), and an SMS stays within
the campaign's segment limit. Registration asks the same of every rendition rendered with
sample values; the decision flow asks it of the drawn arm's message, which is not sent
otherwise. Pure functions of text.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

from templates_store.sms import SmsInfo, sms_info

OPT_OUT_CHANNELS = frozenset({"email", "sms"})
_OPEN_QUOTE = "[\"'\u2018\u201a\u201c\u201e]?"  # straight, English and German quotes
_CLOSE_QUOTE = "[\"'\u2019\u201c\u201d]?"
OPT_OUT_TEXT = re.compile(  # English, German, Danish and Chinese reply-STOP lines
    rf"\b(?:reply|text|txt|send|sms|svar)\s+(?:with\s+|med\s+|mit\s+)?{_OPEN_QUOTE}stop\b"
    rf"|\bstop{_CLOSE_QUOTE}\s+(?:to|til)\s+(?:opt[\s-]?out|unsubscribe|end|stop|afmeld)"
    rf"|\bantwort\w*\s+(?:sie\s+)?(?:mit\s+)?{_OPEN_QUOTE}stop\b"
    rf"|\bmit\s+{_OPEN_QUOTE}stop{_CLOSE_QUOTE}\s+antworten|\bstop\b[^.\n]{{0,40}}\babmelden"
    rf"|回复\s*{_OPEN_QUOTE}stop|退订",
    re.IGNORECASE,
)
MISSING_OPT_OUT = "has no opt-out: add {{ opt_out_url }} or a line like 'Reply STOP to opt out'"


def carries_opt_out(channel: str, body: str, opt_out_url: object) -> bool:
    """Whether a rendered body may be sent as far as opt-outs go: channels other than email
    and SMS need none; an email or SMS shows ``opt_out_url`` (as written, or HTML-escaped in
    an email; a blank or missing value never counts) or a reply-STOP line (in an email's
    text, tags removed)."""
    if channel not in OPT_OUT_CHANNELS:
        return True
    url = str(opt_out_url).strip() if isinstance(opt_out_url, str | int | float) else ""
    if url and (url in body or (channel == "email" and str(escape(url)) in body)):
        return True
    text = Markup(body).striptags() if channel == "email" else body
    return OPT_OUT_TEXT.search(text) is not None


def sms_segments(channel: str, body: str) -> int:
    """How many SMS a rendered body is billed as: its segments for SMS, 1 for any other
    channel (one send)."""
    return sms_info(body).segments if channel == "sms" else 1


def too_long(info: SmsInfo, sms_max_segments: int, context: str = "") -> str | None:
    """Why an SMS of ``info`` exceeds the limit (``context`` follows its length), or None
    when it fits."""
    if info.segments <= sms_max_segments:
        return None
    return (
        f"is {info.segments} SMS segments ({info.encoding}, {info.characters} characters)"
        f"{context}; the limit is {sms_max_segments}"
    )
