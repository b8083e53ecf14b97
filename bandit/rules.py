"""The words of eligibility: a campaign's contact rules, its arms, a debtor and past sends, and
the answer (a mask over arms, and every reason an arm is excluded). Data only, checked at
construction; the rules are applied in ``bandit.masks`` and explained in
``bandit.explanations``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

import numpy as np
from numpy.typing import NDArray

from bandit.addresses import Conversation, about
from bandit.caps import Cap
from bandit.channels import CHANNELS
from bandit.days import micros
from bandit.vocabulary import jurisdiction as place

BoolArray = NDArray[np.bool_]
Reason = tuple[str, str, "datetime | None"]  # (code, detail, until)

CODES: tuple[str, ...] = (
    "inactive", "paused_guardrail", "no_consent", "opted_out", "marketing_consent",
    "locale_missing", "first_contact", "address_opted_out", "workplace_email",
    "quiet_hours", "frequency_cap", "after_conversation",
)  # fmt: skip
TIME_CODES = CODES[-3:]  # the reasons that time alone lifts


@dataclass(frozen=True)
class ContactRules:
    """A campaign's contact rules. No sends while the debtor's local wall time is in
    [quiet_start, quiet_end), wrapping midnight when start > end; start == end: no quiet hours."""

    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)
    caps: tuple[Cap, ...] = (Cap("voice", 7, 7.0),)
    first_contact_template: str | None = None
    fallback_locale: str | None = None

    def __post_init__(self) -> None:
        if self.quiet_start.tzinfo is not None or self.quiet_end.tzinfo is not None:
            raise ValueError("quiet hours are local wall times: give them without a tzinfo")

    def is_quiet(self, local: time) -> bool:
        """Whether a (naive) local wall time falls in quiet hours."""
        start, end = self.quiet_start, self.quiet_end
        if start <= end:
            return start <= local < end
        return local >= start or local < end


@dataclass(frozen=True)
class ArmCatalog:
    """The campaign's K arms, column-wise: template, channel, purpose is marketing, active (not
    paused or retired), the locales with a rendition for the arm's (template, channel), and
    stopped by a guardrail (``guarded``; empty: none is)."""

    templates: tuple[str, ...]
    channels: tuple[str, ...]
    marketing: tuple[bool, ...]
    active: tuple[bool, ...]
    locales: tuple[frozenset[str], ...]
    guarded: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        if not self.guarded:
            object.__setattr__(self, "guarded", (False,) * len(self.templates))
        columns = (self.templates, self.channels, self.marketing, self.active, self.locales)
        if len({len(column) for column in columns}) > 1:
            lengths = [len(column) for column in columns]
            raise ValueError(f"templates, channels, marketing, active, locales differ: {lengths}")
        if len(self.guarded) != len(self.templates):
            raise ValueError(
                f"guarded has {len(self.guarded)} arms, templates {len(self.templates)}"
            )
        unknown = sorted(set(self.channels) - set(CHANNELS))
        if unknown:
            raise ValueError(f"unknown channels {unknown}: use {', '.join(CHANNELS)}")
        repeated = sorted({key for key in self.keys if self.keys.count(key) > 1})
        if repeated:
            raise ValueError(f"arms must be distinct (template, channel) pairs: {repeated} repeat")

    @property
    def keys(self) -> tuple[str, ...]:
        """``template:channel`` per arm; (K,)."""
        return tuple(f"{t}:{c}" for t, c in zip(self.templates, self.channels, strict=True))


@dataclass(frozen=True)
class Contact:
    """One past send to a debtor; ``at`` is aware."""

    at: datetime
    channel: str
    template: str
    debt_id: str | None = None  # the debt it was about (None: unknown, any debt)

    def __post_init__(self) -> None:
        micros(self.at)


@dataclass(frozen=True)
class Debtor:
    """What eligibility needs to know about one debtor, including past sends (any order);
    for Regulation F (``bandit.addresses``): the debt decided about (None: any), the addresses
    given per channel (in order, normal form) and those opted out, the telephone
    conversations, and whether email goes to a workplace without the debtor's consent."""

    channels: frozenset[str]
    timezone: str
    locale: str
    marketing_consent: bool = False
    opted_out: frozenset[str] = frozenset()
    jurisdiction: str | None = None
    history: tuple[Contact, ...] = ()
    debt_id: str | None = None
    addresses: tuple[tuple[str, tuple[str, ...]], ...] = ()
    opted_addresses: frozenset[tuple[str, str]] = frozenset()
    conversations: tuple[Conversation, ...] = ()
    workplace_email: bool = False  # email goes to a workplace without the debtor's consent

    def __post_init__(self) -> None:
        object.__setattr__(self, "jurisdiction", place(self.jurisdiction))  # as caps say it

    @property
    def address_map(self) -> dict[str, tuple[str, ...]]:
        return dict(self.addresses)

    @property
    def debt_history(self) -> tuple[Contact, ...]:
        """The contacts about the debt decided about (every one without a debt on a side)."""
        return tuple(c for c in self.history if about(self.debt_id, c.debt_id))


@dataclass(frozen=True)
class Exclusion:
    """One reason one arm may not be sent; ``until`` is when time alone lifts it (None: never)."""

    code: str
    arm: str
    channel: str
    detail: str
    until: datetime | None


@dataclass(frozen=True, eq=False)
class Eligibility:
    """``mask`` (K,) True where an arm may be sent now; ``locales`` (K,) the locale to render;
    every reason for every excluded arm; when nothing is eligible, the earliest time waiting
    makes some arm eligible (None if the mask is non-empty or waiting never helps)."""

    mask: BoolArray
    locales: tuple[str | None, ...]
    exclusions: tuple[Exclusion, ...]
    next_allowed_at: datetime | None
