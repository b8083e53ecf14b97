"""What a decision needs to know of its debtors' past, read in one statement: their sends
since the caps' window opens (later ones included) with the debt each was about, the
channels and the single addresses they opted out of, their telephone conversations since
``talks_since`` (with the debt of the decision each was attributed to), and whether each was
ever sent the campaign's first-contact template."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    String,
    bindparam,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlmodel import Session

from bandit.addresses import Conversation
from bandit.sequence import Previous
from templates_store import prepared
from templates_store.log import Contact
from templates_store.models import AddressOptOut, Arm, Decision, Event, OptOut, Template

CHUNK = 500  # debtors per statement (each is a bound parameter, three times over)


@dataclass
class DebtorHistories:
    """Per debtor id: sends oldest first, opted-out channels, the debtors who were sent the
    first-contact template at any time, and the debtor's latest send per case id (None: the
    sends without one), whose ``paid_at`` is the latest pay of any send of that case id
    (sequence state)."""

    contacts: dict[str, list[Contact]] = field(default_factory=dict)
    opted_out: dict[str, set[str]] = field(default_factory=dict)
    first_sent: set[str] = field(default_factory=set)
    latest: dict[str, dict[str | None, Previous]] = field(default_factory=dict)
    addresses: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # opted out
    conversations: dict[str, list[Conversation]] = field(default_factory=dict)


_DECISION = Decision.__table__.c  # type: ignore[attr-defined]
_ARM = Arm.__table__.c  # type: ignore[attr-defined]
_TEMPLATE = Template.__table__.c  # type: ignore[attr-defined]
_OPT_OUT = OptOut.__table__.c  # type: ignore[attr-defined]
_ADDRESS = AddressOptOut.__table__.c  # type: ignore[attr-defined]
_EVENT = Event.__table__.c  # type: ignore[attr-defined]
_STATE = ("touch", "case_id", "opened_at", "clicked_at", "paid_at")


def _statement(with_first: bool) -> CompoundSelect[Any]:
    """Rows (kind, debtor_id, at, channel, template, *_STATE, detail): kind "l" a debtor's
    latest send per case id at or before ``until``, with the latest pay of that case id's
    sends (typed first: its columns type the union), "c" a send
    (detail: its debt), "o" an opt-out, "a" an opt-out of one address (detail: the address),
    "v" a conversation (detail: its decision's debt), "f" a debtor once sent the
    first-contact template."""
    debtors: BindParameter[Any] = bindparam("debtor_ids", expanding=True)
    campaign: BindParameter[Any] = bindparam("campaign_id")
    in_campaign = (
        (_DECISION.campaign_id == campaign)
        & _DECISION.debtor_id.in_(debtors)
        & _DECISION.void.is_(False)  # a send voided before its time was never a contact
    )
    sent_at = func.coalesce(_DECISION.send_at, _DECISION.decided_at)  # slots: when it goes
    earlier = Decision.__table__.alias("earlier")  # type: ignore[attr-defined]
    same_case = (
        (earlier.c.campaign_id == _DECISION.campaign_id)
        & (earlier.c.debtor_id == _DECISION.debtor_id)
        & earlier.c.case_id.is_not_distinct_from(_DECISION.case_id)
        & earlier.c.void.is_(False)
    )
    latest_at = (
        select(func.max(earlier.c.decided_at))
        .where(same_case, earlier.c.decided_at <= bindparam("until"))
        .scalar_subquery()
    )
    case_paid_at = (  # a pay on any send of the case closes it (bandit.sequence.in_case)
        select(func.max(earlier.c.paid_at))
        .where(same_case, earlier.c.decided_at <= bindparam("until"))
        .scalar_subquery()
    )
    state = [_DECISION[name] for name in _STATE if name != "paid_at"]
    latest = select(
        literal("l").label("kind"),
        _DECISION.debtor_id,
        sent_at.label("at"),
        _DECISION.channel,
        null().cast(String()).label("template"),
        *state,
        case_paid_at.label("paid_at"),
        null().cast(String()).label("detail"),
    ).where(in_campaign, _DECISION.decided_at == latest_at)
    # typed NULLs: PostgreSQL resolves an untyped NULL under DISTINCT as text
    none = [null().cast(_DECISION[name].type) for name in _STATE]
    no_time, no_text = null().cast(_DECISION.decided_at.type), null().cast(String())
    sends = (
        select(
            literal("c"),
            _DECISION.debtor_id,
            sent_at,
            _DECISION.channel,
            _TEMPLATE.key,
            *none,
            _DECISION.debt_id,
        )
        .join_from(Decision, Arm, _ARM.id == _DECISION.arm_id)
        .join(Template, _TEMPLATE.id == _ARM.template_id)
        .where(in_campaign, _DECISION.decided_at >= bindparam("since"))
    )
    opted = select(
        literal("o"), _OPT_OUT.debtor_id, no_time, _OPT_OUT.channel, no_text, *none, no_text
    ).where(_OPT_OUT.campaign_id == campaign, _OPT_OUT.debtor_id.in_(debtors))
    addressed = select(
        literal("a"),
        _ADDRESS.debtor_id,
        no_time,
        _ADDRESS.channel,
        no_text,
        *none,
        _ADDRESS.address,
    ).where(_ADDRESS.campaign_id == campaign, _ADDRESS.debtor_id.in_(debtors))
    talks = (  # through the debtor's decisions (indexed), not the campaign's events
        select(
            literal("v"),
            _DECISION.debtor_id,
            _EVENT.occurred_at,
            no_text,
            no_text,
            *none,
            _DECISION.debt_id,
        )
        .join_from(Decision, Event, _EVENT.decision_id == _DECISION.id)
        .where(
            in_campaign,
            _EVENT.type == "conversation",
            _EVENT.occurred_at >= bindparam("talks_since"),
        )
    )
    parts = [latest, sends, opted, addressed, talks]
    if with_first:
        first = (
            select(literal("f"), _DECISION.debtor_id, no_time, no_text, no_text, *none, no_text)
            .join_from(Decision, Arm, _ARM.id == _DECISION.arm_id)
            .where(in_campaign, _ARM.template_id == bindparam("first_template_id"))
            .distinct()
        )
        parts.append(first)
    return union_all(*parts)


_PLAIN = _statement(with_first=False)
_WITH_FIRST = _statement(with_first=True)


def debtor_histories(
    session: Session,
    *,
    campaign_id: int,
    debtor_ids: Sequence[str],
    since: datetime,
    until: datetime,
    first_template_id: int | None = None,
    talks_since: datetime | None = None,
) -> DebtorHistories:
    """The debtors' sends since ``since`` (none dropped after it), opt-outs, conversations
    since ``talks_since`` (default ``since``), first-contact sends and latest send at or
    before ``until``, one statement per ``CHUNK`` debtors."""
    out = DebtorHistories(contacts={d: [] for d in debtor_ids})
    statement = _PLAIN if first_template_id is None else _WITH_FIRST
    for start in range(0, len(ordered := sorted(set(debtor_ids))), CHUNK):
        params = {"campaign_id": campaign_id, "debtor_ids": ordered[start : start + CHUNK]}
        params |= {"since": since, "until": until, "talks_since": talks_since or since}
        if first_template_id is not None:
            params["first_template_id"] = first_template_id
        for kind, debtor, at, channel, template, *state, detail in prepared.rows(
            session, statement, params
        ):
            if kind == "c":
                out.contacts[debtor].append(Contact(at, channel, template, debt_id=detail))
            elif kind == "o":
                out.opted_out.setdefault(debtor, set()).add(channel)
            elif kind == "a":
                out.addresses.setdefault(debtor, set()).add((channel, detail))
            elif kind == "v":
                out.conversations.setdefault(debtor, []).append(Conversation(at, detail))
            elif kind == "f":
                out.first_sent.add(debtor)
            else:
                previous = Previous(at, channel, *state)
                cases = out.latest.setdefault(debtor, {})
                known = cases.get(previous.case_id)
                if known is None or previous.touch > known.touch:  # ties: the later touch
                    cases[previous.case_id] = previous
    for sends in out.contacts.values():
        sends.sort(key=lambda c: c.at)
    return out
