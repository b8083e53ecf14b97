"""Campaign bodies: create (with every setting's default) and read."""

from __future__ import annotations

import itertools
from datetime import datetime, time
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from api.currencies import CurrencyCode, is_currency
from api.schemas.common import NO_NUL, TIME, Channel, Key, Locale, Strict
from api.schemas.problems import FieldProblem
from bandit.rules import ContactRules
from bandit.sequence import HISTORY_ATTRIBUTES, LEAST
from bandit.slots import MAX_SLOTS, SlotError, parse_slots


class Windows(Strict):
    open: int = Field(3, ge=1, le=90)
    click: int = Field(7, ge=1, le=90)
    pay: int = Field(14, ge=1, le=90)


class QuietHours(Strict):
    start: str = "21:00"
    end: str = "08:00"

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not TIME.match(value):
            raise ValueError("must be a 24-hour time HH:MM, e.g. 21:00")
        return value

    def rules(self) -> ContactRules:
        """These quiet hours as the bandit's contact rules (caps aside)."""
        return ContactRules(quiet_start=_clock(self.start), quiet_end=_clock(self.end), caps=())


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


class CapIn(Strict):
    channel: Channel | Literal["*"]
    max: int = Field(ge=0, le=1000)
    days: float = Field(gt=0, le=365, allow_inf_nan=False)
    jurisdiction: str | None = Field(default=None, max_length=50, pattern=NO_NUL)
    per: Literal["debtor", "debt"] = Field(
        "debtor", description="count every contact of the debtor, or only those about the debt"
    )


class ControlIn(Strict):
    template: Key
    share: float = Field(gt=0, lt=1, allow_inf_nan=False)


class GuardrailIn(Strict):
    outcome: Literal["opt_out", "complaint"]
    max_rate: float = Field(gt=0, lt=1, allow_inf_nan=False, description="per send, e.g. 0.02")


def _default_caps() -> list[CapIn]:
    """A campaign that sets no caps: at most one contact per debtor a day on any channel,
    Regulation F's 7 calls in 7 days, and Massachusetts' 2 calls in 7 days. ``[]``: none."""
    return [
        CapIn(channel="*", max=1, days=1),
        CapIn(channel="voice", max=7, days=7),
        CapIn(channel="voice", max=2, days=7, jurisdiction="MA"),
    ]


class CampaignCreate(Strict):
    """A dunning programme; everything but ``key`` has a default."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "key": "loans-de",
                    "name": "Consumer loans DE",
                    "segment_by": ["risk", "dpd"],
                    "buckets": {"dpd": [0, 31, 61, 91]},
                    "objective": "pay",
                    "windows_days": {"open": 3, "click": 7, "pay": 14},
                    "half_life_days": None,
                    "exploration_floor": 0.02,
                    "burn_in": 20,
                    "quiet_hours": {"start": "21:00", "end": "08:00"},
                    "caps": [
                        {"channel": "voice", "max": 7, "days": 7},
                        {"channel": "*", "max": 10, "days": 7},
                    ],
                    "control": None,
                    "first_contact_template": None,
                    "fallback_locale": "en",
                    "currency": "EUR",
                }
            ]
        },
    )
    key: Key
    name: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    segment_by: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,49}$")]] = Field(
        default_factory=list, max_length=10
    )
    buckets: dict[str, list[Annotated[float, Field(allow_inf_nan=False)]]] = Field(
        default_factory=dict
    )
    objective: (
        Literal["pay", "net_recovery"]
        | dict[Literal["open", "click", "pay"], Annotated[float, Field(ge=0, allow_inf_nan=False)]]
    ) = "pay"
    windows_days: Windows = Field(default_factory=Windows)
    half_life_days: float | None = Field(default=None, ge=1, le=3650, allow_inf_nan=False)
    exploration_floor: float = Field(0.02, ge=0, le=1, allow_inf_nan=False)
    burn_in: int = Field(20, ge=0, le=100_000)
    quiet_hours: QuietHours | None = Field(default_factory=QuietHours)
    caps: list[CapIn] = Field(default_factory=_default_caps, max_length=50)
    control: ControlIn | None = None
    first_contact_template: Key | None = None
    fallback_locale: Locale | None = None
    sms_max_segments: int = Field(3, ge=1, le=10)
    policy: Literal["thompson", "uniform", "epsilon-greedy", "ucb1", "champion"] = "thompson"
    currency: CurrencyCode = Field(
        "EUR", description="ISO 4217; only pays in this currency add to the amounts"
    )
    min_days_between: float | None = Field(
        default=None, gt=0, le=365, allow_inf_nan=False, description="cadence: reason too_soon"
    )
    max_touches: int | None = Field(
        default=None, ge=1, le=1000, description="contacts in a case at most: max_touches"
    )
    guardrails: list[GuardrailIn] = Field(
        default_factory=list,
        max_length=2,
        description="pause an arm whose rate of an outcome per send probably exceeds max_rate",
    )
    send_slots: list[Annotated[str, Field(max_length=11)]] | None = Field(
        default=None,
        max_length=MAX_SLOTS,
        description='local send windows "HH:MM-HH:MM", non-overlapping, outside quiet hours',
        examples=[["08:00-11:00", "11:00-14:00", "14:00-17:00", "17:00-21:00"]],
    )

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if not is_currency(value):
            raise ValueError(f"{value!r} is not an ISO 4217 currency code, e.g. EUR or USD")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CampaignCreate:
        """Settings that must agree with each other (each problem named by its setting)."""
        for i, name in enumerate(self.segment_by):
            if name in self.segment_by[:i]:
                first = self.segment_by.index(name)
                raise FieldProblem(
                    f"segment_by[{i}]", f"{name!r} is segment_by[{first}] already: name it once"
                )
        for attribute, edges in self.buckets.items():
            problem = bucket_problem(attribute, edges, self.segment_by)
            if problem is not None:
                raise FieldProblem(f"buckets.{attribute}", problem)
        if isinstance(self.objective, dict) and not any(w > 0 for w in self.objective.values()):
            raise FieldProblem("objective", "at least one weight must be greater than zero")
        outcomes = [g.outcome for g in self.guardrails]
        for i, outcome in enumerate(outcomes):
            if outcome in outcomes[:i]:
                raise FieldProblem(
                    f"guardrails[{i}]", f"a second guardrail on {outcome}: one per outcome"
                )
        if self.send_slots:
            quiet = (
                self.quiet_hours.rules()
                if self.quiet_hours is not None
                else ContactRules(quiet_start=time(0, 0), quiet_end=time(0, 0), caps=())
            )
            try:
                parse_slots(self.send_slots, quiet)
            except SlotError as exc:
                where = "send_slots" if exc.index is None else f"send_slots[{exc.index}]"
                raise FieldProblem(where, exc.problem) from exc
        if self.policy == "champion" and self.control is None:
            raise FieldProblem(
                "control", "policy 'champion' needs a control template (control.template)"
            )
        return self


def bucket_problem(attribute: str, edges: list[float], segment_by: list[str]) -> str | None:
    """What is wrong with ``buckets[attribute]`` (None: nothing): the attribute is not in
    ``segment_by``, the edges do not increase, or it is a history attribute whose values are
    text (last_outcome, last_channel) or lie below the first edge (touch from 1,
    days_since_last from 0: such a decision would have no bucket)."""
    if attribute not in segment_by:
        return f"'{attribute}' is not in segment_by"
    if not edges or any(b <= a for a, b in itertools.pairwise(edges)):
        return "edges must be strictly increasing, e.g. [0, 31, 61, 91]"
    if attribute in HISTORY_ATTRIBUTES and attribute not in LEAST:
        numeric = ", ".join(LEAST)
        return (
            f"{attribute} is text: only numeric attributes have buckets "
            f"(of the history attributes: {numeric})"
        )
    least = LEAST.get(attribute)
    if least is not None and edges[0] > least:
        return (
            f"the first edge must be at most {least}: {attribute} starts at {least}, and a "
            "value below the first edge has no bucket"
        )
    return None


class CampaignPublic(CampaignCreate):
    model_config = ConfigDict(extra="ignore")
    name: str | None = None
    revision: int = Field(
        1, description="the settings revision: 1 when created, one more for every PATCH"
    )
    created_at: datetime
    templates: int = 0
    arms: int = 0


# Settings that change the meaning of the statistics already stored: never patched.
NOT_PATCHABLE = ("key", "segment_by", "buckets", "objective", "currency", "windows_days")


class NotPatchable(Exception):
    """A PATCH body names a setting that may not change (a 422 field_not_patchable)."""

    def __init__(self, field: str) -> None:
        super().__init__(
            f"{field} may not change: it changes the meaning of the statistics already "
            "stored; create a new campaign instead"
        )
        self.field = field


def _patch_schema(schema: dict[str, Any]) -> None:
    """No defaults in the documented schema: a setting the body leaves out keeps its value
    (a generated client must not send a default for it)."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)
    schema["examples"] = [{"first_contact_template": None, "quiet_hours": {"start": "20:00"}}]


class CampaignPatch(Strict):
    """The settings to change, each replaced whole (a list or an object too); the others keep
    their values. ``key``, ``segment_by``, ``buckets``, ``objective``, ``currency`` and
    ``windows_days`` may not change (422 ``field_not_patchable`` naming the field)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_patch_schema)
    name: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    half_life_days: float | None = Field(default=None, ge=1, le=3650, allow_inf_nan=False)
    exploration_floor: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    burn_in: int | None = Field(default=None, ge=0, le=100_000)
    quiet_hours: QuietHours | None = None
    caps: list[CapIn] | None = Field(default=None, max_length=50)
    control: ControlIn | None = None
    first_contact_template: Key | None = None
    fallback_locale: Locale | None = None
    sms_max_segments: int | None = Field(default=None, ge=1, le=10)
    policy: Literal["thompson", "uniform", "epsilon-greedy", "ucb1", "champion"] | None = None
    min_days_between: float | None = Field(default=None, gt=0, le=365, allow_inf_nan=False)
    max_touches: int | None = Field(default=None, ge=1, le=1000)
    guardrails: list[GuardrailIn] | None = Field(default=None, max_length=2)
    send_slots: list[Annotated[str, Field(max_length=11)]] | None = Field(
        default=None, max_length=MAX_SLOTS
    )

    @model_validator(mode="before")
    @classmethod
    def _patchable(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for field in NOT_PATCHABLE:
                if field in data:
                    raise NotPatchable(field)
        return data

    def changes(self) -> dict[str, Any]:
        """The settings the body gives, as stored (JSON values)."""
        return self.model_dump(mode="json", include=self.model_fields_set)
