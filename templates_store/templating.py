"""Templates: validation at registration and sandboxed Jinja2 rendering of renditions.

One import for the rest of the code; the work is done along three seams:
``templates_store.sandbox`` (the Jinja2 environment and the constructs it refuses),
``templates_store.rendering`` (a rendition rendered for one debtor) and
``templates_store.validation`` (every problem of a template at once, judged on what it
renders), with ``templates_store.message_checks`` (opt-out and SMS length of a rendered
message, at registration and at decision time) and ``templates_store.needs`` (the variables
a rendition needs from the caller). Here: which rendition a debtor's locale gets.
"""

from __future__ import annotations

from collections.abc import Sequence

from bandit.channels import CHANNELS
from bandit.vocabulary import resolve_locale
from templates_store.message_checks import carries_opt_out, sms_segments, too_long
from templates_store.needs import needed_variables
from templates_store.rendering import RenderedMessage, RenderError, Rendition, render
from templates_store.rendering import run as _run
from templates_store.sandbox import compile_unchecked as _compile_unchecked
from templates_store.sms import SmsInfo, sms_info
from templates_store.validation import (
    STANDARD_VARIABLES,
    TemplateInvalid,
    TemplateProblem,
    sample_variables,
    validate_template,
)

__all__ = [
    "CHANNELS",
    "STANDARD_VARIABLES",
    "RenderError",
    "RenderedMessage",
    "Rendition",
    "SmsInfo",
    "TemplateInvalid",
    "TemplateProblem",
    "_compile_unchecked",
    "_run",
    "carries_opt_out",
    "needed_variables",
    "pick_rendition",
    "render",
    "sample_variables",
    "sms_info",
    "sms_segments",
    "too_long",
    "validate_template",
]


def pick_rendition(
    renditions: Sequence[Rendition], channel: str, locale: str, fallback_locale: str | None
) -> Rendition | None:
    """The rendition on ``channel`` whose locale ``bandit.vocabulary.resolve_locale`` picks for
    ``locale`` (then ``fallback_locale``), else None."""
    on_channel = [r for r in renditions if r.channel == channel]
    found = resolve_locale(locale, frozenset(r.locale for r in on_channel), fallback_locale)
    return next((r for r in on_channel if r.locale == found), None)
