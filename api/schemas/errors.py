"""The error body: ``{"error": {"code", "message", "details"}}``, with every code the service
answers and the one shape of a detail item."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Every error code the service answers (tests/api/test_openapi_document.py finds each one
# raised in api/ here). ``<thing>_not_found`` for a missing campaign, template, ... .
ERROR_CODES: tuple[str, ...] = (
    # the request itself
    "invalid_json",
    "invalid_request",
    "invalid_text",
    "too_large",
    "batch_too_large",
    "method_not_allowed",
    "http_error",
    # the key
    "unauthorized",
    "forbidden",
    # what it names
    "not_found",
    "campaign_not_found",
    "template_not_found",
    "template_version_not_found",
    "rendition_not_found",
    "decision_not_found",
    "segment_not_found",
    "key_not_found",
    # the state
    "campaign_exists",
    "template_exists",
    "template_retired",
    "bad_transition",
    "event_id_conflict",
    "idempotency_key_reused",
    "last_admin_key",
    # values
    "field_not_patchable",
    "invalid_template",
    "render_error",
    "bad_locale",
    "bad_segment",
    "bad_time",
    "duplicate_debtor",
    "unknown_campaign",
    "unknown_currency",
    "unknown_jurisdiction",
    "unknown_timezone",
    # never for bad input
    "internal_error",
)


def _absent(value: Any) -> bool:
    """An ``ErrorItem`` sends only the keys it has (as the error bodies built as dicts do)."""
    return value is None


class ErrorItem(BaseModel):
    """One detail of an error; which keys it has depends on the code: a request validation
    problem (``invalid_request``, ``invalid_json``) has ``field``, ``problem`` and ``input``;
    a template problem (``invalid_template``) has ``code``, ``message`` and where it is
    (``channel``, ``locale``, ``index`` of the rendition, ``field``, ``line``); a batch item's
    fault has its ``index``; a bad setting its ``field``; a render error its ``arm``; an
    ``event_id_conflict`` the fields the events differ in (``differs``)."""

    field: str | None = Field(
        default=None, description="where: a dotted path in the body", exclude_if=_absent
    )
    problem: str | None = Field(default=None, description="what is wrong there", exclude_if=_absent)
    input: Any = Field(default=None, description="the value that was sent", exclude_if=_absent)
    code: str | None = Field(
        default=None, description="a template problem's code", exclude_if=_absent
    )
    message: str | None = Field(default=None, exclude_if=_absent)
    channel: str | None = Field(default=None, exclude_if=_absent)
    locale: str | None = Field(default=None, exclude_if=_absent)
    line: int | None = Field(default=None, exclude_if=_absent)
    index: int | None = Field(
        default=None, description="a rendition's or a batch item's index", exclude_if=_absent
    )
    arm: str | None = Field(default=None, exclude_if=_absent)
    differs: list[str] | None = Field(default=None, exclude_if=_absent)


class ErrorDetail(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)
    code: str = Field(
        examples=["campaign_not_found"], json_schema_extra={"enum": list(ERROR_CODES)}
    )
    message: str = Field(examples=["campaign 'loans-de' does not exist"])
    details: list[ErrorItem] | ErrorItem | None = Field(
        default=None, description="a list of problems, one item, or null (see ErrorItem)"
    )


class ErrorOut(BaseModel):
    """Every error: ``{"error": {"code", "message", "details"}}``."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)
    error: ErrorDetail


class ItemError(ErrorDetail):
    """The error of one item of a batch: the error body a request of that item alone would
    have had, and its HTTP ``status``."""

    status: int = Field(ge=400, le=599)
