"""Send slots: the local-time windows a campaign may send in, when a decision's send starts
(``send_at``), and the second Thompson draw that picks the window after the arm.

Model (MATH.md section 11): the slot multiplies the arm's rate, p(s, k, t) = p(s, k) f(s, c, t)
for an arm k on channel c. The slot is drawn independently of the template given (segment,
channel), so the rate of the channel's sends in slot t, pooled over its templates, is
r(s, c) f(s, c, t): a Beta per (segment, channel, slot) "slot arm" learns it from every template
of the channel, with the empirical-Bayes prior pooled over segments (a new segment's slots
borrow the channel's campaign-wide slot rates). For a fixed arm, argmax_t p(s, k) f(s, c, t) =
argmax_t r(s, c) f(s, c, t), so Thompson sampling over the slot arms of the chosen channel is
Thompson sampling over the (arm, slot) pairs' objective given the arm. Pure: no clock, no I/O.

Slot arms are indexed ``channel_index * T + slot_index`` (C channels x T slots).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from bandit.decide import BatchDecision, DecisionConfig, decide_batch
from bandit.masks import batch_masks
from bandit.policies import Policy, PolicyState
from bandit.quiet_hours import _transition
from bandit.rules import ArmCatalog, ContactRules, Debtor
from bandit.stats import BoolArray, IntArray

_SLOT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")
MAX_SLOTS = 24
_MINUTES_PER_DAY = 24 * 60


class SlotError(ValueError):
    """A campaign's ``send_slots`` are malformed, overlap, or reach into quiet hours;
    ``index`` the offending entry's (None: the list as a whole or a lone window), ``problem``
    what is wrong with it (the message names the entry: ``send_slots[1]: …``)."""

    def __init__(self, problem: str, index: int | None = None) -> None:
        super().__init__(problem if index is None else f"send_slots[{index}]: {problem}")
        self.index = index
        self.problem = problem


@dataclass(frozen=True)
class Slot:
    """A local-time window [start, end) in minutes since local midnight; ``label`` as given."""

    label: str
    start: int
    end: int  # exclusive; 1440 is midnight at the end of the day

    def holds(self, local: time) -> bool:
        """Whether a (naive) local wall time is inside the window."""
        minute = local.hour * 60 + local.minute
        return self.start <= minute < self.end

    @property
    def start_time(self) -> time:
        return time(self.start // 60, self.start % 60)


def parse_slot(text: str) -> Slot:
    """``"HH:MM-HH:MM"`` (end after start, ``24:00`` allowed as the end) as a Slot."""
    found = _SLOT.match(text)
    if found is None:
        raise SlotError(f"{text!r} is not a window HH:MM-HH:MM, e.g. '17:00-21:00'")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end > _MINUTES_PER_DAY:
        raise SlotError(f"{text!r}: a window ends at 24:00 at the latest")
    if end <= start:
        raise SlotError(f"{text!r}: the end must be after the start (windows stay inside a day)")
    return Slot(text, start, end)


def quiet_minutes(slot: Slot, rules: ContactRules) -> int | None:
    """The first minute of ``slot`` that is in quiet hours, or None."""
    for minute in range(slot.start, slot.end):
        if rules.is_quiet(time(minute // 60, minute % 60)):
            return minute
    return None


def parse_slots(texts: Sequence[str], rules: ContactRules) -> tuple[Slot, ...]:
    """The campaign's slots, checked: well-formed, distinct, non-overlapping, each outside the
    quiet hours. SlotError names the offending entry by its index."""
    if len(texts) > MAX_SLOTS:
        raise SlotError(f"at most {MAX_SLOTS} send slots, got {len(texts)}")
    slots: list[Slot] = []
    for i, text in enumerate(texts):
        try:
            slot = parse_slot(text)
        except SlotError as exc:
            raise SlotError(exc.problem, i) from exc
        quiet = quiet_minutes(slot, rules)
        if quiet is not None:
            raise SlotError(
                f"{text!r} reaches into the quiet hours at "
                f"{quiet // 60:02d}:{quiet % 60:02d}; every window must lie outside them",
                i,
            )
        for j, other in enumerate(slots):
            if slot.start < other.end and other.start < slot.end:
                raise SlotError(f"{text!r} overlaps send_slots[{j}] {other.label!r}", i)
        slots.append(slot)
    return tuple(slots)


def slot_of(slots: Sequence[Slot], zone: ZoneInfo, at: datetime) -> int:
    """The index of the slot ``at`` falls in, in the debtor's local time; -1 for none."""
    local = at.astimezone(zone).time()
    return next((i for i, s in enumerate(slots) if s.holds(local)), -1)


def _starts(slot: Slot, zone: ZoneInfo, day: date) -> list[datetime]:
    """The instants (UTC) at which the window opens on local ``day``: its wall start (both
    folds of a repeated hour), or the end of a daylight-saving gap it falls in."""
    wall = datetime.combine(day, slot.start_time)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    found = [first, second]
    if second < first:  # the wall start does not exist (a gap): the window opens at its end
        found.append(_transition(zone, second, first))
    return found


def send_at(slot: Slot, zone: ZoneInfo, at: datetime) -> datetime:
    """The first instant at or after ``at`` whose local wall time is inside ``slot``: ``at``
    itself when it is inside, else the window's next start in ``zone`` (DST-correct), in UTC."""
    at = at.astimezone(UTC)
    local = at.astimezone(zone)
    if slot.holds(local.time()):
        return at
    today = local.date()
    for offset in range(0, 3):
        candidates = sorted(
            t
            for t in _starts(slot, zone, today + timedelta(days=offset))
            if t >= at and slot.holds(t.astimezone(zone).time())
        )
        if candidates:
            return candidates[0]
    raise SlotError(f"no start of {slot.label!r} within two days of {at.isoformat()}")  # never


def send_times(
    slots: Sequence[Slot], zones: Sequence[ZoneInfo], times: Sequence[datetime]
) -> list[list[datetime]]:
    """Per debtor, ``send_at`` of every slot; one computation per distinct (zone, time)."""
    memo: dict[tuple[str, datetime], list[datetime]] = {}
    out = []
    for zone, at in zip(zones, times, strict=True):
        key = (zone.key, at)
        if key not in memo:
            memo[key] = [send_at(s, zone, at) for s in slots]
        out.append(memo[key])
    return out


@dataclass(frozen=True)
class SlotSpace:
    """The slot arms of a campaign: its ``channels`` (C) times its ``slots`` (T)."""

    channels: tuple[str, ...]
    slots: tuple[Slot, ...]

    @property
    def size(self) -> int:
        return len(self.channels) * len(self.slots)

    def index(self, channel: str, slot: int) -> int:
        return self.channels.index(channel) * len(self.slots) + slot

    @property
    def arm_channels(self) -> tuple[str, ...]:
        """The channel of each slot arm, (C * T,)."""
        return tuple(c for c in self.channels for _ in self.slots)

    def labels(self) -> list[str]:
        return [s.label for _ in self.channels for s in self.slots]

    def masks(self, channels: Sequence[str], eligible: BoolArray) -> BoolArray:
        """(N, C * T): debtor i's eligible slots ``eligible`` (N, T) on its channel only."""
        n, t = len(channels), len(self.slots)
        out = np.zeros((n, self.size), dtype=bool)
        for i, channel in enumerate(channels):
            c = self.channels.index(channel)
            out[i, c * t : (c + 1) * t] = eligible[i]
        return out


def decide_slots(
    policy: Policy,
    state: PolicyState,
    segments: IntArray,
    masks: BoolArray,
    exploration_floor: float,
    rng: np.random.Generator,
) -> BatchDecision:
    """Draw a slot arm per debtor from its (segment, eligible slots of its channel) group, in
    one vectorised pass: ``state`` over slot arms (S, C * T), ``masks`` (N, C * T). The
    propensity is the probability of the slot given the arm (the allocation renormalised over
    the eligible slots of the arm's channel); the exploration floor keeps every one at least
    floor / |eligible slots|."""
    config = DecisionConfig(exploration_floor=exploration_floor)
    return decide_batch(policy, state, segments, masks, config, rng)


def slot_index(space: SlotSpace, arm: IntArray) -> IntArray:
    """The slot (0..T-1) of each drawn slot arm, -1 for none."""
    t = len(space.slots)
    return np.asarray(np.where(arm >= 0, arm % max(t, 1), -1), dtype=np.int64)


def pair_masks(
    catalog: ArmCatalog,
    rules: ContactRules,
    debtors: Sequence[Debtor],
    starts: Sequence[Sequence[datetime]],
) -> BoolArray:
    """(N, K, T): whether arm k may be sent to debtor i at ``starts[i][t]`` (the send time of
    slot t) by the contact rules (quiet hours, caps, consent...): one vectorised pass per
    distinct (slot, send time)."""
    n, k = len(debtors), len(catalog.templates)
    t = len(starts[0]) if n else 0
    out = np.zeros((n, k, t), dtype=bool)
    if not k:
        return out
    for s in range(t):
        by_time: dict[datetime, list[int]] = {}
        for i in range(n):
            by_time.setdefault(starts[i][s], []).append(i)
        for moment, rows in by_time.items():
            out[rows, :, s] = batch_masks(catalog, rules, [debtors[i] for i in rows], moment)
    return out
