"""Store write throughput: events and decisions per second on SQLite and PostgreSQL.

For each backend (a SQLite file in a temp directory; a fresh PostgreSQL database, dropped
afterwards) prints the median of several runs of:

- events, single: one transaction per event, as the event endpoint does it
  (log.get_decision + events_log.record_event + commit);
- events, batch: 1,000 events in one transaction (same calls, one commit);
- decisions, single: log.record_decisions with one decision per transaction;
- decisions, batch: log.record_decisions with 1,000 decisions in one transaction.

Events mix open, click and pay (with amounts) over decisions in 2 segments x 2 arms, all inside
their windows, so each is counted. One process, one connection; run on an idle machine.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from templates_store import catalog, events_log, log
from templates_store.db import make_engine
from templates_store.migrate import upgrade
from templates_store.models import Decision
from templates_store.templating import Rendition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' database helpers
from tests.conftest import scratch_postgres

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WINDOW_DAYS = {"open": 3, "click": 7, "pay": 14}
BATCH = 1_000
T = TypeVar("T")
DEFAULT_POSTGRES = os.environ.get(
    "DUNNING_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


class Campaign:
    """A campaign with 2 segments x 2 arms, and fresh decisions and events on demand."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.rng = random.Random(0)
        self.ids = itertools.count()
        with Session(engine) as session:
            campaign = catalog.create_campaign(
                session, key="bench", name="Bench", settings={}, now=START
            )
            assert campaign.id is not None
            catalog.create_template(
                session,
                campaign=campaign,
                key="friendly",
                purpose="collection",
                variables=[],
                cost={"sms": 0.05, "letter": 0.9},
                renditions=[
                    Rendition(channel="sms", locale="en", body="Pay {{ pay_url }}. Reply STOP"),
                    Rendition(channel="letter", locale="en", body="Please pay {{ amount_due }}."),
                ],
                now=START,
            )
            segments = catalog.segment_ids(
                session, campaign_id=campaign.id, keys=["risk=low", "risk=high"]
            )
            self.arms = catalog.campaign_arms(session, campaign_id=campaign.id)
            session.commit()
            self.campaign_id = campaign.id
        self.segments = sorted(segments.values())

    def decisions(self, n: int) -> list[Decision]:
        out = []
        for _ in range(n):
            i = next(self.ids)
            arm = self.arms[i % 2]
            at = START + timedelta(seconds=self.rng.randint(0, 20 * 86_400))
            out.append(
                Decision(
                    id=uuid.uuid4().hex,
                    campaign_id=self.campaign_id,
                    segment_id=self.segments[(i // 2) % 2],
                    arm_id=arm.arm_id,
                    debtor_id=f"debtor-{i}",
                    template_version=1,
                    channel=arm.channel,
                    locale="en",
                    propensity=0.5,
                    cost=arm.cost,
                    eligible=[a.key for a in self.arms],
                    audit={"policy": "thompson"},
                    decided_at=at,
                    day=catalog.day_of(at),
                )
            )
        return out

    def logged_decisions(self, n: int) -> list[tuple[str, datetime]]:
        """``n`` decisions written beforehand, as (id, decided_at) for events to target."""
        made = self.decisions(n)
        for start in range(0, n, BATCH):
            with Session(self.engine) as session:
                chunk = made[start : start + BATCH]
                log.record_decisions(session, decisions=chunk, weights=[1.0] * len(chunk))
                session.commit()
        return [(d.id, d.decided_at) for d in made]

    def events(
        self, n: int, targets: list[tuple[str, datetime]]
    ) -> list[tuple[str, events_log.EventInput]]:
        out = []
        for _ in range(n):
            decision_id, decided_at = self.rng.choice(targets)
            kind = self.rng.choice(("open", "click", "pay"))
            amount = float(self.rng.randint(1, 500)) if kind == "pay" else None
            occurred = decided_at + timedelta(days=self.rng.uniform(0, WINDOW_DAYS[kind]))
            event = events_log.EventInput(
                uuid.uuid4().hex, kind, occurred, amount, "EUR" if amount else None
            )
            out.append((decision_id, event))
        return out


def record_events(session: Session, events: list[tuple[str, events_log.EventInput]]) -> None:
    for decision_id, event in events:
        decision = log.get_decision(session, decision_id=decision_id)
        assert decision is not None
        status = events_log.record_event(
            session,
            event=event,
            decision=decision,
            window_days=WINDOW_DAYS[event.type],
            weight=1.0,
            received_at=START,
        )
        assert status == "accepted", status


def median_rate(prepare: Callable[[], list[T]], run: Callable[[list[T]], None], runs: int) -> float:
    """Median items/s over ``runs`` runs; ``prepare`` builds each run's input, untimed."""
    rates = []
    for _ in range(runs):
        work = prepare()
        start = time.perf_counter()
        run(work)
        rates.append(len(work) / (time.perf_counter() - start))
    return statistics.median(rates)


def measure(engine: Engine, single: int, runs: int) -> dict[str, float]:
    bench = Campaign(engine)
    targets = bench.logged_decisions(2_000)
    Events = list[tuple[str, events_log.EventInput]]

    def events_single(events: Events) -> None:
        for item in events:
            with Session(engine) as session:
                record_events(session, [item])
                session.commit()

    def events_batch(events: Events) -> None:
        with Session(engine) as session:
            record_events(session, events)
            session.commit()

    def decisions_single(decisions: list[Decision]) -> None:
        for d in decisions:
            with Session(engine) as session:
                log.record_decisions(session, decisions=[d], weights=[1.0])
                session.commit()

    def decisions_batch(decisions: list[Decision]) -> None:
        with Session(engine) as session:
            log.record_decisions(session, decisions=decisions, weights=[1.0] * len(decisions))
            session.commit()

    return {
        "events, 1 per transaction": median_rate(
            lambda: bench.events(single, targets), events_single, runs
        ),
        f"events, {BATCH:,} per transaction": median_rate(
            lambda: bench.events(BATCH, targets), events_batch, runs
        ),
        "decisions, 1 per transaction": median_rate(
            lambda: bench.decisions(single), decisions_single, runs
        ),
        f"decisions, {BATCH:,} per transaction": median_rate(
            lambda: bench.decisions(BATCH), decisions_batch, runs
        ),
    }


@contextmanager
def sqlite_engine() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def postgres_engine(url: str) -> Iterator[Engine]:
    """A fresh database next to the one ``url`` names; dropped afterwards."""
    with scratch_postgres(url, f"dunning_bench_{os.getpid()}") as fresh:
        upgrade(fresh)
        engine = make_engine(fresh)
        try:
            yield engine
        finally:
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--single", type=int, default=500, help="items per single-write run")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error(f"--runs must be at least 3 (a median of fewer means little), got {args.runs}")

    results: dict[str, dict[str, float]] = {}
    with sqlite_engine() as engine:
        results["SQLite (file, WAL)"] = measure(engine, args.single, args.runs)
    if not args.no_postgres:
        with postgres_engine(args.postgres_url) as engine:
            results["PostgreSQL"] = measure(engine, args.single, args.runs)

    print(f"store write throughput, items/s, median of {args.runs} runs")
    backends = list(results)
    operations = list(next(iter(results.values())))
    width = max(len(o) for o in operations)
    print(f"{'':{width}}  " + "  ".join(f"{b:>20}" for b in backends))
    for op in operations:
        print(f"{op:{width}}  " + "  ".join(f"{results[b][op]:>20,.0f}" for b in backends))


if __name__ == "__main__":
    main()
