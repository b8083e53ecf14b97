"""Event request and response bodies: the field names of PRODUCT.md are the contract."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.currencies import CurrencyCode
from api.schemas.common import NO_NUL, SENT, Channel, Key, Strict
from api.schemas.errors import ItemError
from api.schemas.problems import FieldProblem

EventType = Literal["open", "click", "pay", "opt_out", "complaint", "conversation"]


class EventIn(Strict):
    """An outcome: by ``decision_id``, or ``campaign`` + ``debtor_id`` (last touch). An
    ``opt_out`` may name the ``channel`` it removes (by debtor without one: every channel)
    and one ``address`` of it (only that address). ``complaint`` (about a message) and
    ``conversation`` (a call that reached the person) are stored, never counted as outcomes."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "event_id": "evt-1",
                    "type": "pay",
                    "decision_id": "0f8e9c1a2b3c4d5e6f708192a3b4c5d6",
                    "occurred_at": "2026-11-20T10:00:00Z",
                    "amount": 120.0,
                    "currency": "EUR",
                }
            ]
        },
    )
    event_id: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    type: EventType
    decision_id: str | None = Field(default=None, min_length=1, max_length=36, pattern=NO_NUL)
    debtor_id: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL)
    campaign: Key | None = None
    occurred_at: datetime
    amount: float | None = Field(default=None, gt=0, le=1e9, allow_inf_nan=False)
    currency: CurrencyCode | None = Field(
        default=None, description="ISO 4217; the campaign's currency when omitted"
    )
    channel: Channel | None = Field(default=None, description="opt_out only: the channel")
    address: str | None = Field(
        default=None,
        min_length=1,
        max_length=320,
        pattern=NO_NUL,
        description="opt_out only: the one address (phone number, email) opted out",
    )

    @model_validator(mode="after")
    def _target(self) -> EventIn:
        if self.decision_id is None and (self.campaign is None or self.debtor_id is None):
            raise ValueError(
                "give decision_id, or campaign and debtor_id for last-touch attribution"
            )
        if self.amount is not None and self.type != "pay":
            raise FieldProblem("amount", "is only for pay events")
        if self.channel is not None and self.type != "opt_out":
            raise FieldProblem("channel", "is only for opt_out events")
        if self.address is not None and self.type != "opt_out":
            raise FieldProblem("address", "is only for opt_out events")
        if self.address is not None and self.decision_id is None and self.channel is None:
            raise FieldProblem("channel", "an opt-out of one address by debtor names its channel")
        return self


class EventOut(BaseModel):
    model_config = SENT
    event_id: str
    status: Literal["accepted", "duplicate", "late"]
    decision_id: str | None = Field(
        description="null for a debtor's opt-out that no decision was attributed to"
    )
    flags: list[str] = Field(default_factory=list, examples=[["currency_mismatch"]])


class EventBatchIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"events": EventIn.model_json_schema()["examples"]}]},
    )
    events: list[EventIn] = Field(min_length=1)


class EventResult(BaseModel):
    """An event's own answer: as ``EventOut``, or ``status: error`` with the ``error`` that
    event alone would have been answered with."""

    model_config = SENT
    event_id: str
    status: Literal["accepted", "duplicate", "late", "error"]
    decision_id: str | None = None
    flags: list[str] = Field(default_factory=list)
    error: ItemError | None = None


class EventBatchOut(BaseModel):
    model_config = SENT
    results: list[EventResult]
