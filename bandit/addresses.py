"""The rest of US Regulation F and state law, as pure rules over one debtor (PRODUCT.md "Rules,
continued"); ``bandit.masks`` applies them as (N, K) masks beside the other contact rules.

- Per-address opt-outs: a debtor may give several addresses per channel (``addresses``);
  an opt-out naming one address makes only that address ineligible; a channel is excluded
  (reason ``address_opted_out``) when every address given for it has opted out, and a send
  goes to the first eligible address. Addresses compare in a normal form (``normal_address``).
- Debts: a contact, a conversation and a decision may be about a debt (``debt_id``). One
  without a debt is about every debt (so a rule per debt never undercounts).
- After a telephone conversation about a debt, no call about it for 7 days (reason
  ``after_conversation``, lifted at the conversation's time + 7 days; exactly 7 days later
  is allowed).
- Workplace email: ``workplace_email`` on a decide makes email ineligible (reason
  ``workplace_email``) unless the debtor's attributes say ``workplace_email_consent: true``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

AFTER_CONVERSATION = timedelta(days=7)
CALL_CHANNEL = "voice"
_PHONE_NOISE = str.maketrans("", "", " -().\t")


def normal_address(address: str) -> str:
    """An address as compared: an email address in lower case, a phone number without
    spaces, dashes, dots and parentheses; surrounding blanks dropped."""
    text = address.strip()
    return text.lower() if "@" in text else text.translate(_PHONE_NOISE)


def address_list(value: str | Sequence[str]) -> tuple[str, ...]:
    """The addresses given for one channel (a string or a list of strings), in order, in
    normal form, each once."""
    given = [value] if isinstance(value, str) else list(value)
    return tuple(dict.fromkeys(normal_address(a) for a in given))


def eligible_addresses(
    channel: str, given: Mapping[str, Sequence[str]], opted: Iterable[tuple[str, str]]
) -> tuple[str, ...] | None:
    """The channel's addresses that have not opted out, in the order given; None when no
    address is given for the channel (the channel is judged as a whole)."""
    if channel not in given:
        return None
    out = {a for c, a in opted if c == channel}
    return tuple(a for a in given[channel] if a not in out)


def about(debt: str | None, other: str | None) -> bool:
    """Whether two things are about the same debt (no debt on either side: every debt)."""
    return debt is None or other is None or debt == other


@dataclass(frozen=True)
class Conversation:
    """A telephone conversation with the debtor (an event ``conversation``), about ``debt_id``."""

    at: datetime
    debt_id: str | None = None


def conversation_until(
    conversations: Iterable[Conversation], debt: str | None, now: datetime
) -> datetime | None:
    """When calls about ``debt`` are allowed again after the conversations before ``now``
    (None: not held back now)."""
    ends = [
        c.at + AFTER_CONVERSATION
        for c in conversations
        if about(debt, c.debt_id) and c.at <= now < c.at + AFTER_CONVERSATION
    ]
    return max(ends, default=None)


def workplace_consent(attributes: Mapping[str, object]) -> bool:
    """Whether the debtor consented to email at work (``workplace_email_consent: true``)."""
    return attributes.get("workplace_email_consent") is True
