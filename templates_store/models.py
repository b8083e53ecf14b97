"""The tables: campaigns, templates with immutable versions and renditions, arms, segments,
the append-only decision log, events, sufficient statistics, opt-outs and API keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Dialect, Index, TypeDecorator, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlmodel import Field, SQLModel

TEMPLATE_STATUSES = ("active", "paused", "retired")
PURPOSES = ("collection", "marketing")
EVENT_TYPES = ("open", "click", "pay", "opt_out", "complaint", "conversation")
ROLES = ("admin", "manager", "sender", "analyst")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone; PostgreSQL does)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(**kwargs: Any) -> Any:
    return Field(sa_column=Column(UtcDateTime(), **kwargs))


class Campaign(SQLModel, table=True):
    """One dunning programme; ``settings`` holds the validated campaign JSON."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=100, unique=True, index=True)
    name: str = Field(max_length=200)
    settings: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    epoch_day: int  # reference day of the discounted accumulators
    created_at: datetime = _utc(nullable=False)
    # bumped by every change to the campaign's templates (new, new version, status): the
    # key under which a process may keep the campaign's arms without re-reading them
    revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # bumped by every change to its settings (PATCH): the decisions made under each record it
    settings_revision: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class CampaignSettings(SQLModel, table=True):
    """A campaign's settings at one of its settings revisions: what its decisions used."""

    __tablename__ = "campaign_settings"
    __table_args__ = (UniqueConstraint("campaign_id", "revision"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    revision: int
    settings: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = _utc(nullable=False)


class Template(SQLModel, table=True):
    """A message concept; its content lives in immutable versions."""

    __table_args__ = (UniqueConstraint("campaign_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    key: str = Field(max_length=100)
    purpose: str = Field(max_length=20, default="collection")
    status: str = Field(max_length=20, default="active")
    latest_version: int = 1
    created_at: datetime = _utc(nullable=False)


class TemplateVersion(SQLModel, table=True):
    """Version n of a template: declared variables and cost per channel; never changed."""

    __tablename__ = "template_version"
    __table_args__ = (UniqueConstraint("template_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    template_id: int = Field(foreign_key="template.id", index=True)
    version: int
    variables: list[str] = Field(sa_column=Column(JSON, nullable=False))
    cost: dict[str, float] = Field(sa_column=Column(JSON, nullable=False))
    when: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = _utc(nullable=False)


class Rendition(SQLModel, table=True):
    """The text of one version for one (channel, locale)."""

    __table_args__ = (UniqueConstraint("template_version_id", "channel", "locale"),)
    id: int | None = Field(default=None, primary_key=True)
    template_version_id: int = Field(foreign_key="template_version.id", index=True)
    channel: str = Field(max_length=10)
    locale: str = Field(max_length=20)
    subject: str | None = None
    title: str | None = None
    body: str


class Arm(SQLModel, table=True):
    """A (template, channel) pair the bandit chooses among; its order in a campaign is its id."""

    __table_args__ = (UniqueConstraint("campaign_id", "template_id", "channel"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    template_id: int = Field(foreign_key="template.id")
    channel: str = Field(max_length=10)
    key: str = Field(max_length=120)
    # a guardrail stopped the arm at this time (until a manager resumes its template)
    guardrail_paused_at: datetime | None = _utc(nullable=True)
    # its guardrail evidence counts sends from this time on (the latest resume)
    guardrail_since: datetime | None = _utc(nullable=True)


class Segment(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("campaign_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    key: str = Field(max_length=300)


class Snapshot(SQLModel, table=True):
    """What the policy saw for one (segment, eligibility) group of a request: posterior
    parameters and allocation of every eligible arm; shared by that group's decisions."""

    id: str = Field(primary_key=True, max_length=36)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    created_at: datetime = _utc(nullable=False)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class Decision(SQLModel, table=True):
    """One choice for one debtor; append-only except for its first-outcome times."""

    __table_args__ = (
        Index("ix_decision_debtor", "campaign_id", "debtor_id", "decided_at"),
        Index("ix_decision_arm", "arm_id", "decided_at"),  # an arm's sends (guardrails)
    )
    id: str = Field(primary_key=True, max_length=36)
    campaign_id: int = Field(foreign_key="campaign.id")
    segment_id: int = Field(foreign_key="segment.id")
    arm_id: int = Field(foreign_key="arm.id")
    debtor_id: str = Field(max_length=200)
    template_version: int
    channel: str = Field(max_length=10)
    locale: str = Field(max_length=20)
    propensity: float
    control: bool = False
    cost: float = 0.0
    eligible: list[str] = Field(sa_column=Column(JSON, nullable=False))
    audit: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    snapshot_id: str | None = Field(default=None, foreign_key="snapshot.id")
    decided_at: datetime = _utc(nullable=False, index=True)
    day: int  # whole UTC days since 1970-01-01
    opened_at: datetime | None = _utc(nullable=True)
    clicked_at: datetime | None = _utc(nullable=True)
    paid_at: datetime | None = _utc(nullable=True)
    amount: float = 0.0
    touch: int = Field(default=1, sa_column_kwargs={"server_default": "1"})  # in its case
    case_id: str | None = Field(default=None, max_length=200)  # the caller's, when given
    debt_id: str | None = Field(default=None, max_length=200)  # the debt it is about
    # send slots (NULL without them): the window chosen, when the send starts, the two
    # factors of ``propensity`` (arm x slot given arm); ``void`` when an opt-out, a pay or a
    # conversation arrived before ``send_at`` (then neither a contact nor a trial)
    slot: str | None = Field(default=None, max_length=11)
    send_at: datetime | None = _utc(nullable=True)
    arm_propensity: float | None = None
    slot_propensity: float | None = None
    void: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})


class Event(SQLModel, table=True):
    """An outcome reported by a sender; idempotent on ``event_id`` within its campaign. ``decision_id`` is NULL
    only for a debtor's opt-out that no decision was attributed to; ``channel`` is the channel
    an opt-out removed (``"*"``: every channel); ``flags`` marks such as ``currency_mismatch``."""

    __table_args__ = (Index("ux_event_campaign_event_id", "campaign_id", "event_id", unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=200)  # unique per campaign
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    decision_id: str | None = Field(default=None, foreign_key="decision.id", index=True)
    debtor_id: str = Field(max_length=200)
    type: str = Field(max_length=20)
    channel: str | None = Field(default=None, max_length=10)
    address: str | None = Field(default=None, max_length=320)  # an opt-out's one address
    occurred_at: datetime = _utc(nullable=False)
    received_at: datetime = _utc(nullable=False)
    amount: float | None = None
    currency: str | None = Field(default=None, max_length=3)
    late: bool = False
    flags: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )


class Accumulators(SQLModel):
    """The sufficient statistics an ``ArmStat`` and a ``SlotStat`` row both hold: counts, and
    ``_w`` sums weighted by the campaign's half-life (bandit.stats.scaled_weight)."""

    sends: int = 0
    sends_w: float = 0.0
    opens_w: float = 0.0
    clicks_w: float = 0.0
    pays_w: float = 0.0
    amount_w: float = 0.0
    amount_sq_w: float = 0.0
    opens: int = 0
    clicks: int = 0
    pays: int = 0
    amount: float = 0.0
    cost: float = 0.0


class ArmStat(Accumulators, table=True):
    """Sufficient statistics of one (segment, arm); accumulators scaled to the campaign's
    epoch day when the campaign has a half-life (bandit.stats.scaled_weight)."""

    __tablename__ = "arm_stat"
    segment_id: int = Field(foreign_key="segment.id", primary_key=True)
    arm_id: int = Field(foreign_key="arm.id", primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)


class ArmDay(SQLModel, table=True):
    """Decisions per (segment, arm, day): the pending-by-age buckets."""

    __tablename__ = "arm_day"
    segment_id: int = Field(foreign_key="segment.id", primary_key=True)
    arm_id: int = Field(foreign_key="arm.id", primary_key=True)
    day: int = Field(primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    sends: int = 0


class SlotStat(Accumulators, table=True):
    """Sufficient statistics of one (segment, arm, send slot): ``day`` -1 holds the totals
    (accumulators scaled like ``ArmStat``'s), a day number >= 0 the decisions made that day
    (``sends`` only: the pending-by-age buckets). Slot posteriors pool an arm's channel."""

    __tablename__ = "slot_stat"
    segment_id: int = Field(foreign_key="segment.id", primary_key=True)
    arm_id: int = Field(foreign_key="arm.id", primary_key=True)
    slot: str = Field(max_length=11, primary_key=True)
    day: int = Field(primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)


TOTAL_DAY = -1  # SlotStat.day of the totals row


class DelayCount(SQLModel, table=True):
    """Counted outcomes per (campaign, channel of the decision, outcome, whole days from
    decision to outcome): the histogram behind each channel's delay model."""

    __tablename__ = "delay_count"
    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True)
    channel: str = Field(max_length=10, primary_key=True)
    outcome: str = Field(max_length=10, primary_key=True)
    delay_day: int = Field(primary_key=True)
    count: int = 0


class OptOut(SQLModel, table=True):
    """A channel a debtor has opted out of, remembered per campaign."""

    __tablename__ = "opt_out"
    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True)
    debtor_id: str = Field(max_length=200, primary_key=True)
    channel: str = Field(max_length=10, primary_key=True)
    at: datetime = _utc(nullable=False)


class AddressOptOut(SQLModel, table=True):
    """One address (a phone number, an email address) a debtor has opted out of."""

    __tablename__ = "address_opt_out"
    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True)
    debtor_id: str = Field(max_length=200, primary_key=True)
    channel: str = Field(max_length=10, primary_key=True)
    address: str = Field(max_length=320, primary_key=True)
    at: datetime = _utc(nullable=False)


class ArmLifecycle(SQLModel, table=True):
    """A change of an arm's state that the service made or lifted: ``paused_guardrail`` and
    ``flagged_guardrail`` (a guardrail breached: the outcome, its limit and the figures),
    ``resumed`` (a manager lifted a guardrail pause; evidence restarts)."""

    __tablename__ = "arm_lifecycle"
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    arm_id: int = Field(foreign_key="arm.id")
    action: str = Field(max_length=30)
    at: datetime = _utc(nullable=False)
    outcome: str | None = Field(default=None, max_length=20)
    max_rate: float | None = None
    sends: int | None = None
    count: int | None = None
    p_exceed: float | None = None


class ApiKey(SQLModel, table=True):
    """An API key: only its SHA-256 hash is kept, with a short public prefix to name it.
    A ``scoped`` key sees only the campaigns its ``api_key_campaign`` rows name."""

    __tablename__ = "api_key"
    id: int | None = Field(default=None, primary_key=True)
    prefix: str = Field(max_length=16, index=True)
    hash: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=10)
    created_at: datetime = _utc(nullable=False)
    revoked_at: datetime | None = _utc(nullable=True)
    scoped: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    last_used_at: datetime | None = _utc(nullable=True)  # to within a minute


class ApiKeyCampaign(SQLModel, table=True):
    """A campaign in a scoped key's scope (kept by campaign id)."""

    __tablename__ = "api_key_campaign"
    key_id: int = Field(foreign_key="api_key.id", primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True, index=True)


class DebtorLock(SQLModel, table=True):
    """One row per (campaign, debtor): decisions lock their debtors' rows, so two concurrent
    decisions for the same debtor run one after the other (caps hold under concurrency)."""

    __tablename__ = "debtor_lock"
    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True)
    debtor_id: str = Field(max_length=200, primary_key=True)
    touched_at: datetime = _utc(nullable=False)


class IdempotentRequest(SQLModel, table=True):
    """A decide request sent with an ``Idempotency-Key``: its body's hash and the answer
    given, stored in the transaction of its decisions, so a retry gets the same answer."""

    __tablename__ = "idempotent_request"
    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True)
    key: str = Field(max_length=200, primary_key=True)
    request_hash: str = Field(max_length=64)
    status: int = 0  # 0 while the request runs (only its own transaction sees the row)
    response: str | None = Field(default=None)
    created_at: datetime = _utc(nullable=False, index=True)
