"""kill -9 the server under load; after a restart nothing acknowledged is lost or counted twice.

Per backend (a SQLite file; PostgreSQL): the real server (uvicorn, one process) on a migrated
database; client threads send single decides, batch decides, single events and event batches
(new and duplicate event ids, by decision id and by last touch) and keep a ledger of every
request that got a 2xx. After 1.5 s of load (longer, up to 5 s, until 50 decisions and 50
events were acknowledged) the server gets SIGKILL, with requests in flight. It is restarted
on the same database, and then:

- every acknowledged decision is in the CSV export, once;
- every acknowledged event is stored, on the decision it was acknowledged for (checked in the
  database, and for 25 decisions in their audit records, GET /v1/decisions/{id});
- the event requests that were in flight at the kill, retried, are accepted or duplicates,
  and every acknowledged event resent is a duplicate: idempotent across a crash;
- the decides in flight at the kill, retried with their Idempotency-Key, come back as
  committed before the kill or are made now: afterwards the log holds exactly the decisions
  the clients were told about;
- each decision's outcome flags and amount follow from its stored events (counted once);
- the statistics equal `dunning-bandit rebuild-stats` on the same log.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

from templates_store.db import make_engine
from templates_store.models import Decision, Event
from tests.api import live
from tests.conftest import drop_postgres, fresh_postgres

CLIENTS = 6
LOAD_SECONDS = 1.5  # then the kill, once ENOUGH decisions and events were acknowledged
MAX_LOAD_SECONDS = 5.0
ENOUGH = 50
TRANSPORT_ERRORS = (httpx.TransportError,)


@dataclass
class Ledger:
    """What the clients were told: only 2xx answers count as acknowledged."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    decisions: dict[str, str] = field(default_factory=dict)  # decision id -> debtor id
    events: dict[str, str] = field(default_factory=dict)  # event id -> decision id
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)  # every event body sent
    # (path, body, Idempotency-Key of a decide) of the requests cut short by the kill
    in_flight: list[tuple[str, Any, str | None]] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    replayed: int = 0  # retried decides answered from the store (committed before the kill)

    def enough(self) -> bool:
        with self.lock:
            return len(self.decisions) >= ENOUGH and len(self.events) >= ENOUGH

    def decision(self, rnd: random.Random) -> tuple[str, str] | None:
        with self.lock:
            if not self.decisions:
                return None
            decision_id = rnd.choice(list(self.decisions))
            return decision_id, self.decisions[decision_id]


def event_body(
    ledger: Ledger, rnd: random.Random, event_id: str, decision_id: str, debtor_id: str
) -> dict[str, Any]:
    kind = rnd.choices(["open", "click", "pay", "opt_out"], [4, 2, 3, 1])[0]
    body: dict[str, Any] = {"event_id": event_id, "type": kind, "occurred_at": live.now_iso()}
    if rnd.random() < 0.25:  # last touch: the debtor's latest decision (debtors have one)
        body |= {"campaign": live.CAMPAIGN, "debtor_id": debtor_id}
    else:
        body["decision_id"] = decision_id
    if kind == "pay":
        body |= {"amount": round(rnd.uniform(1, 500), 2), "currency": "EUR"}
    with ledger.lock:
        ledger.bodies[event_id] = body
    return body


def some_event(ledger: Ledger, rnd: random.Random, event_id: str) -> dict[str, Any] | None:
    """A new event for an acknowledged decision, or (one in five) one sent before again."""
    with ledger.lock:
        sent = list(ledger.bodies.values())
    if sent and rnd.random() < 0.2:
        return rnd.choice(sent)
    target = ledger.decision(rnd)
    if target is None:
        return None
    return event_body(ledger, rnd, event_id, *target)


def client(base: str, sender: str, n: int, ledger: Ledger, stop: threading.Event) -> None:
    rnd = random.Random(n)
    headers = {"Authorization": f"Bearer {sender}"}
    decide_path = f"/v1/campaigns/{live.CAMPAIGN}/decisions"
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        i = 0
        while not stop.is_set():
            i += 1
            action = rnd.choices(["decide", "batch", "event", "events"], [3, 1, 4, 2])[0]
            path: str
            body: Any
            key = f"k{n}-{i}" if action in ("decide", "batch") else None
            if action == "decide":
                path, body = decide_path, live.debtor(f"c{n}-{i}", i)
            elif action == "batch":
                size = rnd.randint(5, 40)
                items = [live.debtor(f"c{n}-{i}-{k}", i + k) for k in range(size)]
                path, body = decide_path + "/batch", {"items": items}
            elif action == "event":
                one = some_event(ledger, rnd, f"e{n}-{i}")
                if one is None:
                    continue
                path, body = "/v1/events", one
            else:
                many = [some_event(ledger, rnd, f"e{n}-{i}-{k}") for k in range(rnd.randint(5, 30))]
                if not all(many):
                    continue
                path, body = "/v1/events/batch", {"events": many}
            try:
                r = http.post(path, json=body, headers={"Idempotency-Key": key} if key else {})
            except TRANSPORT_ERRORS:
                with ledger.lock:
                    ledger.in_flight.append((path, body, key))
                return  # the server is gone
            acknowledge(ledger, path, body, r)


def acknowledge(ledger: Ledger, path: str, body: Any, r: httpx.Response) -> None:
    with ledger.lock:
        if not 200 <= r.status_code < 300:
            ledger.unexpected.append(f"{path} -> {r.status_code}: {r.text[:300]}")
            return
        answer = r.json()
        if path.endswith("/decisions"):
            answers = [answer]
        elif path.endswith("/decisions/batch"):
            answers = answer["results"]
        else:
            results = [answer] if path == "/v1/events" else answer["results"]
            for result in results:
                ledger.statuses[result["status"]] += 1
                if result["status"] == "error":
                    ledger.unexpected.append(f"{path}: {result}")
                    continue
                known = ledger.events.setdefault(result["event_id"], result["decision_id"])
                if known != result["decision_id"]:
                    ledger.unexpected.append(f"{path}: {result} after {known}")
            return
        items = body.get("items", [body])
        for item, out in zip(items, answers, strict=True):
            if not out["send"]:
                ledger.unexpected.append(f"{path}: not sent: {out}")
                continue
            ledger.decisions[out["decision_id"]] = item["debtor_id"]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crash.db'}"
        return
    base = request.getfixturevalue("postgres_url")
    url = fresh_postgres(base, f"dunning_crash_{os.getpid()}")
    yield url
    drop_postgres(url)


def test_kill_9_under_load_loses_nothing_acknowledged(database: str, tmp_path: Path) -> None:
    keys = live.migrate_with_keys(database)
    env = live.server_env(database)
    log = tmp_path / "server.log"
    ledger = Ledger()

    server = live.start(env, log)
    try:
        live.set_up_campaign(server.base, keys["admin"])
        warm_up(server.base, keys["sender"], ledger)
        stop = threading.Event()
        threads = [
            threading.Thread(target=client, args=(server.base, keys["sender"], n, ledger, stop))
            for n in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        started = time.monotonic()
        time.sleep(LOAD_SECONDS)
        while time.monotonic() - started < MAX_LOAD_SECONDS and not ledger.enough():
            time.sleep(0.05)
        live.kill_hard(server)  # SIGKILL mid-load: no shutdown, no flush, no rollback
        stop.set()
        for t in threads:
            t.join(timeout=30)
    finally:
        live.stop(server)
    assert not any(t.is_alive() for t in threads)
    assert ledger.unexpected == [], ledger.unexpected[:5]
    assert ledger.enough(), (len(ledger.decisions), len(ledger.events), server.output())
    assert ledger.in_flight, "the kill should have cut requests short"

    with live.running(env, log) as server:
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        with httpx.Client(base_url=server.base, headers=admin, timeout=30) as http:
            # the clients retry what was cut short: events are idempotent on event_id,
            # decides on their Idempotency-Key (a decide committed before the kill comes back
            # as it was; one that was not is made now)
            for path, body, key in ledger.in_flight:
                r = http.post(path, json=body, headers={"Idempotency-Key": key} if key else {})
                assert 200 <= r.status_code < 300, r.text
                acknowledge(ledger, path, body, r)
                ledger.replayed += r.headers.get("idempotent-replayed") == "true"
            assert ledger.unexpected == [], ledger.unexpected[:5]
            # and resending anything acknowledged changes nothing
            resent = [ledger.bodies[e] for e in sorted(ledger.events)[:200]]
            r = http.post("/v1/events/batch", json={"events": resent})
            assert r.status_code == 202, r.text
            assert {x["status"] for x in r.json()["results"]} == {"duplicate"}

            exported = live.export_ids(server.base, keys["admin"])
            assert len(exported) == len(set(exported)), "a decision exported twice"
            missing = set(ledger.decisions) - set(exported)
            assert not missing, f"{len(missing)} acknowledged decisions lost, e.g. {min(missing)}"
            # with the retries, no decision stays in the log that no client was told about
            assert set(exported) == set(ledger.decisions)

            stored = stored_events(database)
            lost = set(ledger.events) - set(stored)
            assert not lost, f"{len(lost)} acknowledged events lost, e.g. {min(lost)}"
            for event_id, decision_id in ledger.events.items():
                assert stored[event_id][0] == decision_id, event_id

            # the audit record of a decision shows its acknowledged events
            by_decision: dict[str, set[str]] = {}
            for event_id, decision_id in ledger.events.items():
                by_decision.setdefault(decision_id, set()).add(event_id)
            for decision_id in sorted(by_decision)[:25]:
                r = http.get(f"/v1/decisions/{decision_id}")
                assert r.status_code == 200, r.text
                shown = [e["event_id"] for e in r.json()["events"]]
                assert len(shown) == len(set(shown))
                assert by_decision[decision_id] <= set(shown)

        assert_counted_once(database, stored)
        before = live.read_stats(database)
        assert sum(v["sends"] for v in before.arm_stats.values()) == len(exported)
        out = live.rebuild_stats(env)
        assert f"rebuilt statistics from {len(exported):,} decisions" in out
        live.assert_same_stats(before, live.read_stats(database))
    print(
        f"{database.split(':')[0]}: {len(ledger.decisions)} decisions and {len(ledger.events)} "
        f"events acknowledged ({dict(ledger.statuses)}), {len(ledger.in_flight)} requests cut "
        f"short, {ledger.replayed} retried decides answered from the store"
    )


def warm_up(base: str, sender: str, ledger: Ledger) -> None:
    """One decision first: the load then starts in steady state, not with the first imports."""
    path, body = f"/v1/campaigns/{live.CAMPAIGN}/decisions", live.debtor("warm-up", 0)
    r = httpx.post(base + path, json=body, headers={"Authorization": f"Bearer {sender}"})
    assert r.status_code == 200 and r.json()["send"], r.text
    acknowledge(ledger, path, body, r)


def stored_events(url: str) -> dict[str, tuple[str, str, float | None, bool]]:
    """event id -> (decision id, type, amount, late), straight from the database."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            rows = session.exec(
                select(Event.event_id, Event.decision_id, Event.type, Event.amount, Event.late)
            ).all()
    finally:
        engine.dispose()
    return {e: (d, t, a, late) for e, d, t, a, late in rows}


def assert_counted_once(url: str, stored: dict[str, tuple[str, str, float | None, bool]]) -> None:
    """Each decision's outcome flags and amount are exactly what its stored events imply."""
    outcomes: dict[str, set[str]] = {}
    amounts: Counter[str] = Counter()
    for decision_id, kind, amount, late in stored.values():
        if late:
            continue
        outcomes.setdefault(decision_id, set()).add(kind)
        if kind == "pay" and amount:
            amounts[decision_id] += amount
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            rows = session.exec(
                select(
                    Decision.id,
                    col(Decision.opened_at).is_not(None),
                    col(Decision.clicked_at).is_not(None),
                    col(Decision.paid_at).is_not(None),
                    Decision.amount,
                )
            ).all()
    finally:
        engine.dispose()
    for decision_id, opened, clicked, paid, amount in rows:
        kinds = outcomes.get(decision_id, set())
        assert (bool(opened), bool(clicked), bool(paid)) == (
            "open" in kinds,
            "click" in kinds,
            "pay" in kinds,
        ), decision_id
        assert amount == pytest.approx(amounts[decision_id], abs=1e-6), decision_id
