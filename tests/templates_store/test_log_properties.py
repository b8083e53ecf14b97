"""Properties of the decision and event log on SQLite and PostgreSQL.

Random decisions and random event streams (duplicates, out of order, late) are applied one
transaction per event, as the API does; the incremental statistics must equal a rebuild from
the log and an independent brute-force count made here.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, select

from templates_store import catalog, events_log, log, statistics
from templates_store.db import is_sqlite
from templates_store.models import Decision, Event, OptOut
from templates_store.templating import Rendition

START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
EPOCH_DAY = catalog.day_of(START) + 30
WINDOW_DAYS = {"open": 3, "click": 7, "pay": 14, "opt_out": 14}
OUTCOMES = ("open", "click", "pay")
SEGMENTS = ("risk=low", "risk=high")
DEBTORS = ("d-1", "d-2", "d-3", "d-4")
RENDITIONS = [
    Rendition(channel="sms", locale="en", body="Pay {{ pay_url }}. Reply STOP to opt out"),
    Rendition(
        channel="email",
        locale="en",
        subject="Your payment",
        body="<p>Pay {{ pay_url }}</p><a href='{{ opt_out_url }}'>Unsubscribe</a>",
    ),
]
COST = {"sms": 0.07, "email": 0.001}


def weight(day: int) -> float:
    """Evidence weight of a decision made on ``day``: a 10-day half-life around EPOCH_DAY."""
    return float(0.5 ** ((EPOCH_DAY - day) / 10.0))


@dataclass(frozen=True)
class PlannedDecision:
    debtor: int
    segment: int
    arm: int
    seconds: int  # after START


@dataclass(frozen=True)
class PlannedEvent:
    decision: int  # index into the decisions (taken modulo their number)
    type: str
    seconds: int  # after the decision; may be negative (clock skew) or past the window
    amount: float | None
    duplicate_of: int | None  # index of an earlier event whose event_id is reused
    foreign: bool = False  # a pay in another currency: counted as a pay, its amount not summed


decisions_strategy = st.lists(
    st.builds(
        PlannedDecision,
        debtor=st.integers(0, len(DEBTORS) - 1),
        segment=st.integers(0, len(SEGMENTS) - 1),
        arm=st.integers(0, 1),
        seconds=st.integers(0, 30 * 86_400),
    ),
    min_size=1,
    max_size=10,
)
event_offsets = st.one_of(
    st.integers(-6 * 3_600, 20 * 86_400),
    st.sampled_from([days * 86_400 + delta for days in (3, 7, 14) for delta in (-1, 0, 1)]),
)
events_strategy = st.lists(
    st.builds(
        PlannedEvent,
        decision=st.integers(0, 50),
        type=st.sampled_from(("open", "click", "pay", "pay", "opt_out")),
        seconds=event_offsets,
        amount=st.one_of(st.none(), st.integers(1, 100_000).map(lambda cents: cents / 100)),
        duplicate_of=st.one_of(st.none(), st.none(), st.integers(0, 50)),
        foreign=st.booleans(),
    ),
    max_size=30,
)


def empty_tables(engine: Engine) -> None:
    """Remove every row, so each hypothesis example starts from an empty database."""
    tables = list(reversed(SQLModel.metadata.sorted_tables))
    with engine.begin() as conn:
        if is_sqlite(engine):
            for table in tables:
                conn.execute(table.delete())
        else:
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC datetimes, PostgreSQL aware ones: compare them as aware."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def setup_campaign(engine: Engine) -> tuple[int, list[int], list[catalog.ArmInfo]]:
    with Session(engine) as session:
        campaign = catalog.create_campaign(
            session, key="loans", name="Loans", settings={}, now=START
        )
        assert campaign.id is not None
        catalog.create_template(
            session,
            campaign=campaign,
            key="friendly",
            purpose="collection",
            variables=[],
            cost=COST,
            renditions=RENDITIONS,
            now=START,
        )
        ids = catalog.segment_ids(session, campaign_id=campaign.id, keys=list(SEGMENTS))
        arms = catalog.campaign_arms(session, campaign_id=campaign.id)
        session.commit()
        return campaign.id, [ids[k] for k in SEGMENTS], arms


def make_decisions(
    campaign_id: int,
    segment_ids: Sequence[int],
    arms: Sequence[catalog.ArmInfo],
    planned: Sequence[PlannedDecision],
) -> list[Decision]:
    out = []
    for i, p in enumerate(planned):
        arm = arms[p.arm]
        at = START + timedelta(seconds=p.seconds)
        out.append(
            Decision(
                id=f"dec-{i:03d}",
                campaign_id=campaign_id,
                segment_id=segment_ids[p.segment],
                arm_id=arm.arm_id,
                debtor_id=DEBTORS[p.debtor],
                template_version=1,
                channel=arm.channel,
                locale="en",
                propensity=0.5,
                cost=arm.cost,
                eligible=[a.key for a in arms],
                audit={},
                decided_at=at,
                day=catalog.day_of(at),
            )
        )
    return out


@dataclass(frozen=True)
class Sent:
    """One event as the sender reports it, with the decision it is attributed to."""

    decision_id: str
    event: events_log.EventInput


def make_events(decisions: Sequence[Decision], planned: Sequence[PlannedEvent]) -> list[Sent]:
    """The arrival sequence; a duplicate reuses an earlier event_id, maybe with other content."""
    out: list[Sent] = []
    for i, p in enumerate(planned):
        d = decisions[p.decision % len(decisions)]
        event_id = f"evt-{i:03d}"
        if p.duplicate_of is not None and out:
            earlier = out[p.duplicate_of % len(out)]
            event_id = earlier.event.event_id
            if p.duplicate_of % 2 == 0:  # an exact resend; odd: same id, different content
                out.append(earlier)
                continue
            d = next(x for x in decisions if x.id == earlier.decision_id)
        amount = p.amount if p.type == "pay" else None
        foreign = p.foreign and amount is not None
        event = events_log.EventInput(
            event_id=event_id,
            type=p.type,
            occurred_at=d.decided_at + timedelta(seconds=p.seconds),
            amount=amount,
            currency=None if amount is None else "JPY" if foreign else "EUR",
            flags=(events_log.CURRENCY_MISMATCH,) if foreign else (),
        )
        out.append(Sent(d.id, event))
    return out


@dataclass
class Expected:
    """What the log must hold, computed by brute force over the arrival sequence."""

    statuses: list[str]
    stats: dict[tuple[int, int], dict[str, float]]
    days: list[tuple[int, int, int, int]]
    delays: list[tuple[str, str, int, int]]  # (channel, outcome, delay day, count)
    firsts: dict[tuple[str, str], datetime]  # (decision id, outcome) -> occurred_at
    amounts: dict[str, float]
    stored: dict[str, bool]  # event_id -> late flag
    opt_outs: set[tuple[str, str]]


def brute_force(decisions: Sequence[Decision], sent: Sequence[Sent]) -> Expected:
    by_id = {d.id: d for d in decisions}
    stats: dict[tuple[int, int], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for d in decisions:
        s = stats[(d.segment_id, d.arm_id)]
        s["sends"] += 1
        s["sends_w"] += weight(d.day)
        s["cost"] += d.cost
    days = Counter((d.segment_id, d.arm_id, d.day) for d in decisions)
    statuses: list[str] = []
    stored: dict[str, bool] = {}
    firsts: dict[tuple[str, str], datetime] = {}
    delays: Counter[tuple[str, str, int]] = Counter()
    amounts = {d.id: 0.0 for d in decisions}
    opt_outs: set[tuple[str, str]] = set()
    for item in sent:
        e, d = item.event, by_id[item.decision_id]
        if e.event_id in stored:
            statuses.append("duplicate")
            continue
        elapsed = e.occurred_at - d.decided_at
        late = e.type != "opt_out" and elapsed > timedelta(days=WINDOW_DAYS[e.type])
        stored[e.event_id] = late
        if late:
            statuses.append("late")
            continue
        statuses.append("accepted")
        if e.type == "opt_out":
            opt_outs.add((d.debtor_id, d.channel))
            continue
        s = stats[(d.segment_id, d.arm_id)]
        name = events_log.COUNT_COLUMN[e.type]
        if (d.id, e.type) not in firsts:
            firsts[(d.id, e.type)] = e.occurred_at
            s[name] += 1
            s[f"{name}_w"] += weight(d.day)
            delays[(d.channel, e.type, max(math.floor(elapsed.total_seconds() / 86_400), 0))] += 1
        if e.type == "pay" and e.amount and e.currency == "EUR":  # JPY: stored, not summed
            amounts[d.id] += e.amount
            s["amount"] += e.amount
            s["amount_w"] += e.amount * weight(d.day)
            s["amount_sq_w"] += e.amount**2 * weight(d.day)
    return Expected(
        statuses=statuses,
        stats={k: dict(v) for k, v in stats.items()},
        days=sorted((*k, n) for k, n in days.items()),
        delays=sorted((c, o, day, n) for (c, o, day), n in delays.items()),
        firsts=firsts,
        amounts=amounts,
        stored=stored,
        opt_outs=opt_outs,
    )


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def assert_stats_close(
    actual: Sequence[statistics.StatRow], expected: Sequence[statistics.StatRow]
) -> None:
    assert len(actual) == len(expected)
    for a, b in zip(sorted(actual, key=_stat_key), sorted(expected, key=_stat_key), strict=True):
        for f in fields(statistics.StatRow):
            x, y = getattr(a, f.name), getattr(b, f.name)
            assert close(x, y), f"{f.name} of {_stat_key(a)}: {x!r} != {y!r}"


def _stat_key(row: statistics.StatRow) -> tuple[int, int]:
    return (row.segment_id, row.arm_id)


def as_stat_rows(stats: dict[tuple[int, int], dict[str, float]]) -> list[statistics.StatRow]:
    out = []
    for (segment_id, arm_id), values in stats.items():
        row: dict[str, Any] = {f.name: values.get(f.name, 0) for f in fields(statistics.StatRow)}
        row.update(segment_id=segment_id, arm_id=arm_id)
        out.append(statistics.StatRow(**row))
    return out


@dataclass(frozen=True)
class Snapshot:
    stats: list[statistics.StatRow]
    days: list[tuple[int, int, int, int]]
    delays: list[tuple[str, str, int, int]]
    outcomes: dict[str, tuple[datetime | None, datetime | None, datetime | None, float]]


def snapshot(engine: Engine, campaign_id: int) -> Snapshot:
    with Session(engine) as session:
        rows = session.exec(select(Decision).where(Decision.campaign_id == campaign_id)).all()
        return Snapshot(
            stats=statistics.stat_rows(session, campaign_id=campaign_id),
            days=sorted(statistics.day_rows(session, campaign_id=campaign_id, since_day=0)),
            delays=sorted(statistics.delay_rows(session, campaign_id=campaign_id)),
            outcomes={
                d.id: (utc(d.opened_at), utc(d.clicked_at), utc(d.paid_at), d.amount) for d in rows
            },
        )


def assert_snapshots_equal(a: Snapshot, b: Snapshot) -> None:
    assert_stats_close(a.stats, b.stats)
    assert a.days == b.days
    assert a.delays == b.delays
    assert a.outcomes.keys() == b.outcomes.keys()
    for decision_id, (*times_a, amount_a) in a.outcomes.items():
        *times_b, amount_b = b.outcomes[decision_id]
        assert times_a == times_b, decision_id
        assert close(amount_a, amount_b), decision_id


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    planned_decisions=decisions_strategy,
    batches=st.lists(st.integers(1, 4), min_size=1, max_size=10),
    planned_events=events_strategy,
)
def test_incremental_statistics_equal_rebuild_and_brute_force(
    engine: Engine,
    planned_decisions: list[PlannedDecision],
    batches: list[int],
    planned_events: list[PlannedEvent],
) -> None:
    empty_tables(engine)
    campaign_id, segment_ids, arms = setup_campaign(engine)
    decisions = make_decisions(campaign_id, segment_ids, arms, planned_decisions)
    sent = make_events(decisions, planned_events)
    expected = brute_force(decisions, sent)

    # decisions in batches, one transaction each (as the decide endpoints do)
    start = 0
    for size in [*batches, len(decisions)]:
        chunk = decisions[start : start + size]
        if not chunk:
            break
        with Session(engine) as session:
            log.record_decisions(session, decisions=chunk, weights=[weight(d.day) for d in chunk])
            session.commit()
        start += size

    # events one transaction each, the decision read back from the database (as the API does)
    statuses = []
    for i, item in enumerate(sent):
        with Session(engine) as session:
            decision = log.get_decision(session, decision_id=item.decision_id)
            assert decision is not None
            statuses.append(
                events_log.record_event(
                    session,
                    event=item.event,
                    decision=decision,
                    window_days=WINDOW_DAYS[item.event.type],
                    weight=weight(decision.day),
                    received_at=START + timedelta(days=40, seconds=i),
                )
            )
            session.commit()
    assert statuses == expected.statuses
    for status in sorted(set(statuses)):
        event(f"some event {status}")
    if any(s["pays"] > 1 for s in expected.stats.values() if "pays" in s):
        event("several decisions of one (segment, arm) paid")
    if len({channel for channel, *_ in expected.delays}) > 1:
        event("delays counted on both channels")
    if any(item.event.flags for item in sent):
        event("a pay in another currency")

    incremental = snapshot(engine, campaign_id)

    # the brute-force count
    assert_stats_close(incremental.stats, as_stat_rows(expected.stats))
    assert incremental.days == expected.days
    assert incremental.delays == expected.delays
    for d in decisions:
        opened, clicked, paid, amount = incremental.outcomes[d.id]
        assert opened == expected.firsts.get((d.id, "open"))
        assert clicked == expected.firsts.get((d.id, "click"))
        assert paid == expected.firsts.get((d.id, "pay"))
        assert close(amount, expected.amounts[d.id])
    with Session(engine) as session:
        events = session.exec(select(Event).order_by(col(Event.id))).all()
        assert {e.event_id: e.late for e in events} == expected.stored
        flagged = {e.event_id for e in events if e.flags == [events_log.CURRENCY_MISMATCH]}
        assert flagged == {e.event_id for e in events if e.currency == "JPY"}
        assert [e.event_id for e in events] == list(expected.stored)  # arrival order
        opt_outs = session.exec(select(OptOut).where(OptOut.campaign_id == campaign_id)).all()
        assert {(o.debtor_id, o.channel) for o in opt_outs} == expected.opt_outs

    # a rebuild from the log gives the same statistics
    with Session(engine) as session:
        replayed = statistics.rebuild_statistics(session, campaign_id=campaign_id, weight=weight)
        session.commit()
    assert replayed == len(decisions)
    assert_snapshots_equal(snapshot(engine, campaign_id), incremental)

    # and a second rebuild changes nothing
    with Session(engine) as session:
        statistics.rebuild_statistics(session, campaign_id=campaign_id, weight=weight)
        session.commit()
    assert_snapshots_equal(snapshot(engine, campaign_id), incremental)


def test_a_decision_in_the_session_reads_its_counted_outcomes(engine: Engine) -> None:
    """Several events in one transaction (the batch endpoint): the session's decision object
    shows the stored first-outcome time and amount, not a stale copy."""
    campaign_id, segment_ids, arms = setup_campaign(engine)
    [d] = make_decisions(campaign_id, segment_ids, arms, [PlannedDecision(0, 0, 0, 0)])
    with Session(engine) as session:
        log.record_decisions(session, decisions=[d], weights=[1.0])
        session.commit()
    with Session(engine) as session:
        decision = log.get_decision(session, decision_id=d.id)
        assert decision is not None and decision.paid_at is None and decision.amount == 0.0
        for i, (kind, hours, amount) in enumerate(
            [("pay", 30, 40.0), ("open", 2, None), ("pay", 5, 2.5), ("open", 1, None)]
        ):
            event = events_log.EventInput(
                f"e{i}", kind, d.decided_at + timedelta(hours=hours), amount
            )
            status = events_log.record_event(
                session,
                event=event,
                decision=decision,
                window_days=WINDOW_DAYS[kind],
                weight=1.0,
                received_at=START,
            )
            assert status == "accepted"
        assert utc(decision.paid_at) == d.decided_at + timedelta(hours=30)  # first to arrive
        assert utc(decision.opened_at) == d.decided_at + timedelta(hours=2)
        assert decision.clicked_at is None and decision.amount == 42.5
        session.commit()
        [row] = statistics.stat_rows(session, campaign_id=campaign_id)
        assert (row.pays, row.opens, row.amount) == (1, 1, 42.5)
