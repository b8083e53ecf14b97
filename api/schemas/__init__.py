"""Request and response bodies, one module per route family; the field names of PRODUCT.md
are the contract. ``common`` (strict models, keys, locales, channels), ``campaigns``,
``templates``, ``decisions``, ``events``, ``arms`` and ``keys``; this package is their one import."""

from __future__ import annotations

from api.schemas.arms import ArmOut, ArmsOut, SlotOut
from api.schemas.campaigns import (
    CampaignCreate,
    CampaignPublic,
    CapIn,
    ControlIn,
    GuardrailIn,
    QuietHours,
    Windows,
)
from api.schemas.common import (
    CHANNELS,
    NO_NUL,
    TIME,
    Attribute,
    Channel,
    Key,
    Locale,
    Strict,
    assume_utc,
)
from api.schemas.decisions import (
    DecideBatchIn,
    DecideBatchOut,
    DecideIn,
    DecideOut,
    Message,
    Reason,
)
from api.schemas.events import (
    EventBatchIn,
    EventBatchOut,
    EventIn,
    EventOut,
    EventResult,
    EventType,
)
from api.schemas.keys import KeyCreate, KeyCreated, KeyPublic, KeyRevoked
from api.schemas.templates import (
    TEMPLATE_EXAMPLE,
    PreviewIn,
    PreviewOut,
    RenditionIn,
    TemplateCreate,
    TemplatePublic,
    TemplateUpdate,
)

__all__ = [
    "CHANNELS",
    "NO_NUL",
    "TEMPLATE_EXAMPLE",
    "TIME",
    "ArmOut",
    "ArmsOut",
    "Attribute",
    "CampaignCreate",
    "CampaignPublic",
    "CapIn",
    "Channel",
    "ControlIn",
    "DecideBatchIn",
    "DecideBatchOut",
    "DecideIn",
    "DecideOut",
    "EventBatchIn",
    "EventBatchOut",
    "EventIn",
    "EventOut",
    "EventResult",
    "EventType",
    "GuardrailIn",
    "Key",
    "KeyCreate",
    "KeyCreated",
    "KeyPublic",
    "KeyRevoked",
    "Locale",
    "Message",
    "PreviewIn",
    "PreviewOut",
    "QuietHours",
    "Reason",
    "RenditionIn",
    "SlotOut",
    "Strict",
    "TemplateCreate",
    "TemplatePublic",
    "TemplateUpdate",
    "Windows",
    "assume_utc",
]
