"""What every family of bodies shares: strict models, keys, locales, channels, free text."""

from __future__ import annotations

import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from bandit.channels import CHANNELS, Channel

__all__ = [
    "CHANNELS",
    "NOT_TEXT",
    "NO_NUL",
    "SENT",
    "TEXT_CHECKED",
    "TIME",
    "Attribute",
    "Channel",
    "Key",
    "Locale",
    "Strict",
    "assume_utc",
    "not_text",
]

Key = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", description="letters, digits, . _ -")
]
Locale = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}$", examples=["en", "de-AT", "zh-Hans"]
    ),
]
TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# Free text may hold any character but NUL, which PostgreSQL cannot store in text or JSONB
# (SQLite can): refused up front on every backend, so the two behave alike.
NO_NUL = r"^[^\x00]*$"


# A response model's config: the fields it always sends are required in its documented
# (serialization) schema, so generated clients need not check for their absence; request
# models keep their defaults optional.
SENT = ConfigDict(json_schema_serialization_defaults_required=True)


class Strict(BaseModel):
    """A request body: unknown fields are refused. Nested in a response (a campaign's
    settings, a template's renditions), every field it sends is documented as required."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


Attribute = Annotated[str, Field(pattern=NO_NUL)] | int | float | bool | None


def assume_utc(moment: datetime) -> datetime:
    """A time from a request body, where one without a zone means UTC. The one place a naive
    time is made aware: stored times come back aware (templates_store.models.UtcDateTime)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# True while a request body that api.text_route scanned and found free of surrogate escapes
# is validated: its strings need no second look (not_text)
TEXT_CHECKED: ContextVar[bool] = ContextVar("text_checked", default=False)
NOT_TEXT = (
    "holds a lone UTF-16 surrogate escape (such as \\udc00), which is not text; send valid Unicode"
)


def not_text(value: Any, where: str = "body") -> str | None:
    """The place of the first string (or object key) in ``value`` that is not valid Unicode."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = not_text(key, where) or not_text(item, f"{where}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = not_text(item, f"{where}[{i}]")
            if found:
                return found
    return None
