"""What a decision needs to know of its debtors' past, read in one statement: their sends
since the caps' window opens (later ones included), the channels they opted out of, and
whether each was ever sent the campaign's first-contact template."""

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
    literal,
    null,
    select,
    union_all,
)
from sqlmodel import Session

from templates_store import prepared
from templates_store.log import Contact
from templates_store.models import Arm, Decision, OptOut, Template, UtcDateTime

CHUNK = 500  # debtors per statement (each is a bound parameter, three times over)


@dataclass
class DebtorHistories:
    """Per debtor id: sends oldest first, opted-out channels, and the debtors who were sent
    the first-contact template at any time."""

    contacts: dict[str, list[Contact]] = field(default_factory=dict)
    opted_out: dict[str, set[str]] = field(default_factory=dict)
    first_sent: set[str] = field(default_factory=set)


_DECISION = Decision.__table__.c  # type: ignore[attr-defined]
_ARM = Arm.__table__.c  # type: ignore[attr-defined]
_TEMPLATE = Template.__table__.c  # type: ignore[attr-defined]
_OPT_OUT = OptOut.__table__.c  # type: ignore[attr-defined]


def _statement(with_first: bool) -> CompoundSelect[Any]:
    """Rows (kind, debtor_id, at, channel, template): kind "c" a send, "o" an opt-out, "f" a
    debtor once sent the first-contact template."""
    debtors: BindParameter[Any] = bindparam("debtor_ids", expanding=True)
    campaign: BindParameter[Any] = bindparam("campaign_id")
    in_campaign = (_DECISION.campaign_id == campaign) & _DECISION.debtor_id.in_(debtors)
    sends = (
        select(
            literal("c").label("kind"),
            _DECISION.debtor_id,
            _DECISION.decided_at.label("at"),
            _DECISION.channel,
            _TEMPLATE.key.label("template"),
        )
        .join_from(Decision, Arm, _ARM.id == _DECISION.arm_id)
        .join(Template, _TEMPLATE.id == _ARM.template_id)
        .where(in_campaign, _DECISION.decided_at >= bindparam("since"))
    )
    opted = select(
        literal("o"),
        _OPT_OUT.debtor_id,
        null().cast(UtcDateTime()),
        _OPT_OUT.channel,
        null().cast(String()),
    ).where(_OPT_OUT.campaign_id == campaign, _OPT_OUT.debtor_id.in_(debtors))
    parts = [sends, opted]
    if with_first:
        first = (
            select(
                literal("f"),
                _DECISION.debtor_id,
                null().cast(UtcDateTime()),
                null().cast(String()),
                null().cast(String()),
            )
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
    first_template_id: int | None = None,
) -> DebtorHistories:
    """The debtors' sends since ``since`` (none dropped after it), opt-outs and first-contact
    sends, one statement per ``CHUNK`` debtors."""
    out = DebtorHistories(contacts={d: [] for d in debtor_ids})
    statement = _PLAIN if first_template_id is None else _WITH_FIRST
    for start in range(0, len(ordered := sorted(set(debtor_ids))), CHUNK):
        params = {"campaign_id": campaign_id, "debtor_ids": ordered[start : start + CHUNK]}
        params |= {"since": since}
        if first_template_id is not None:
            params["first_template_id"] = first_template_id
        for kind, debtor, at, channel, template in prepared.rows(session, statement, params):
            if kind == "c":
                out.contacts[debtor].append(Contact(at=at, channel=channel, template=template))
            elif kind == "o":
                out.opted_out.setdefault(debtor, set()).add(channel)
            else:
                out.first_sent.add(debtor)
    for sends in out.contacts.values():
        sends.sort(key=lambda c: c.at)
    return out
