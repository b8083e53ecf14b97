"""Request and response bodies, one module per route family; the field names of PRODUCT.md
are the contract. ``common`` (strict models, keys, locales, channels), ``campaigns``,
``templates``, ``decisions``, ``events`` and ``arms``; this package is their one import."""

from __future__ import annotations

from api.schemas.arms import ArmOut, ArmsOut, TemplateStatus
from api.schemas.audit import AuditOut
from api.schemas.campaigns import (
    CampaignCreate,
    CampaignPatch,
    CampaignPublic,
    CapIn,
    ControlIn,
    QuietHours,
    Windows,
)
from api.schemas.common import (
    CHANNELS,
    NO_NUL,
    SENT,
    TIME,
    Attribute,
    Channel,
    Key,
    Locale,
    Strict,
    assume_utc,
)
from api.schemas.decisions import (
    REASON_CODES,
    DecideBatchIn,
    DecideBatchOut,
    DecideIn,
    DecideOut,
    Message,
    Reason,
)
from api.schemas.errors import ERROR_CODES, ErrorDetail, ErrorItem, ErrorOut, ItemError
from api.schemas.events import (
    EventBatchIn,
    EventBatchOut,
    EventIn,
    EventOut,
    EventResult,
    EventType,
)
from api.schemas.templates import (
    TEMPLATE_EXAMPLE,
    Preview,
    PreviewIn,
    PreviewOut,
    RenditionIn,
    TemplateCreate,
    TemplatePublic,
    TemplateUpdate,
)

__all__ = [
    "CHANNELS",
    "ERROR_CODES",
    "NO_NUL",
    "REASON_CODES",
    "SENT",
    "TEMPLATE_EXAMPLE",
    "TIME",
    "ArmOut",
    "ArmsOut",
    "Attribute",
    "AuditOut",
    "CampaignCreate",
    "CampaignPatch",
    "CampaignPublic",
    "CapIn",
    "Channel",
    "ControlIn",
    "DecideBatchIn",
    "DecideBatchOut",
    "DecideIn",
    "DecideOut",
    "ErrorDetail",
    "ErrorItem",
    "ErrorOut",
    "EventBatchIn",
    "EventBatchOut",
    "EventIn",
    "EventOut",
    "EventResult",
    "EventType",
    "ItemError",
    "Key",
    "Locale",
    "Message",
    "Preview",
    "PreviewIn",
    "PreviewOut",
    "QuietHours",
    "Reason",
    "RenditionIn",
    "Strict",
    "TemplateCreate",
    "TemplatePublic",
    "TemplateStatus",
    "TemplateUpdate",
    "Windows",
    "assume_utc",
]
