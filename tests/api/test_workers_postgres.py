"""4 workers on PostgreSQL, 4 client processes: 5,000 decisions and 20,000 events, exact counts.

`dunning-bandit serve --workers 4` on a fresh PostgreSQL database. Four client processes
(spawned, one httpx connection each) first make 4,000 decisions (10% single decides, the rest
in batches of 100-300), then send 20,000 event requests: 18,000 distinct events plus 2,000
resends of them (10%). Each client sends the events of the decisions it made; each resend goes
to a random client at the same point of its queue as the original, so most race it from
another process. One event in five names only campaign + debtor (last touch). While the
events flow the clients make the other 1,000 decisions (20% single).

Events go 1,000 one per request (`POST /v1/events`) and 19,000 in batches of 100-400
(`POST /v1/events/batch`): on this 2-core machine a recorded event costs ~3 ms of server
time in a batch and ~8 ms as its own request, so 20,000 single requests alone would take
longer than the suite can give this test (~60 s).

(The /healthz round trip with TCP_NODELAY is a figure of benchmarks/bench_healthz.py.) Afterwards: no
request failed (no 4xx, no 5xx, no item error, nothing in the server log); every decision is
in the export once; every distinct event was answered "accepted" exactly once and
"duplicate" for each resend, for the decision it names, and is stored once; each decision's
open/click/pay flags and amount, the arm statistics (`GET /arms`), the delay counts and the
opt-outs are exactly what the events sent imply. (Statistics = rebuild is checked by
test_crash_safety; here a rebuild would add ~25 s.)
"""

from __future__ import annotations

import multiprocessing
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from api.schemas import CHANNELS
from templates_store.db import make_engine
from templates_store.models import Event, OptOut
from tests.api import live
from tests.conftest import drop_postgres, fresh_postgres

pytestmark = pytest.mark.postgres

WORKERS = 4
CLIENTS = 4
FIRST_DECISIONS = 4_000  # before the events: 10% single decides, the rest in batches
LATER_DECISIONS = 1_000  # while the events flow: 20% single decides
EVENTS = 18_000
RESENDS = 2_000
SINGLE_EVENTS = 1_000
DECIDE = f"/v1/campaigns/{live.CAMPAIGN}/decisions"

Request = tuple[str, Any]  # (path, JSON body)


def drive(base: str, sender: str, work: list[Request]) -> dict[str, Any]:
    """One client process: send ``work`` in order; report what was acknowledged."""
    decisions: list[tuple[str, str]] = []  # (decision id, debtor id)
    events: list[tuple[str, str, str]] = []  # (event id, status, decision id)
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {sender}"}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with httpx.Client(base_url=base, headers=headers, timeout=120, limits=limits) as http:
        for path, body in work:
            try:
                r = http.post(path, json=body)
            except httpx.TransportError as exc:
                errors.append(f"{path}: {type(exc).__name__}: {exc}")
                continue
            if r.status_code not in (200, 202):
                errors.append(f"{path} -> {r.status_code}: {r.text[:300]}")
                continue
            answer = r.json()
            if path.startswith(DECIDE):
                items = body.get("items", [body])
                outs = answer.get("results", [answer])
                for item, out in zip(items, outs, strict=True):
                    if out["send"]:
                        decisions.append((out["decision_id"], item["debtor_id"]))
                    else:
                        errors.append(f"{path}: {item['debtor_id']} not sent: {out['reasons']}")
            else:
                for out in answer.get("results", [answer]):
                    if out["status"] == "error":
                        errors.append(f"{path}: {out}")
                    else:
                        events.append((out["event_id"], out["status"], out["decision_id"]))
    return {"decisions": decisions, "events": events, "errors": errors}


def run_clients(pool: Any, base: str, sender: str, works: list[list[Request]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"decisions": [], "events": [], "errors": []}
    for result in pool.starmap(drive, [(base, sender, work) for work in works]):
        for name, values in result.items():
            merged[name] += values
    return merged


def decide_requests(rnd: random.Random, prefix: str, count: int, single: int) -> list[Request]:
    """``count`` new debtors: ``single`` one per request, the rest in batches of 100-300."""
    debtors = [live.debtor(f"{prefix}-{i}", rnd.randrange(1_000)) for i in range(count)]
    requests: list[Request] = [(DECIDE, d) for d in debtors[:single]]
    rest = debtors[single:]
    while rest:
        size = rnd.randint(100, 300)
        requests.append((DECIDE + "/batch", {"items": rest[:size]}))
        rest = rest[size:]
    rnd.shuffle(requests)
    return requests


def plan_events(
    rnd: random.Random, decisions: list[tuple[str, str]]
) -> list[tuple[int, dict[str, Any]]]:
    """18,000 distinct events over the decisions: opens, clicks, pays, a few opt-outs; each
    with the client that made its decision (debtor "a<client>-<n>")."""
    at = live.now_iso()
    planned = []
    for n in range(EVENTS):
        decision_id, debtor_id = rnd.choice(decisions)
        owner = int(debtor_id.split("-")[0].removeprefix("a"))
        kind = rnd.choices(["open", "click", "pay", "opt_out"], [45, 25, 25, 5])[0]
        body: dict[str, Any] = {"event_id": f"evt-{n}", "type": kind, "occurred_at": at}
        if rnd.random() < 0.2:
            body |= {"campaign": live.CAMPAIGN, "debtor_id": debtor_id}
        else:
            body["decision_id"] = decision_id
        if kind == "pay":
            body |= {"amount": rnd.randint(100, 50_000) / 100, "currency": "EUR"}
        planned.append((owner, body))
    return planned


def event_requests(
    rnd: random.Random, planned: list[tuple[int, dict[str, Any]]], later: list[list[Request]]
) -> list[list[Request]]:
    """Each client's queue: the events of its own decisions, resends placed (in any client)
    where their original is, batches of 100-400 and single events, and the later decisions."""
    queues: list[list[tuple[float, dict[str, Any]]]] = [[] for _ in range(CLIENTS)]
    for n, (owner, body) in enumerate(planned):
        queues[owner].append((n / len(planned), body))
    for n in rnd.sample(range(len(planned)), RESENDS):
        where = n / len(planned) + rnd.uniform(-0.002, 0.002)
        queues[rnd.randrange(CLIENTS)].append((where, planned[n][1]))
    singles_each = SINGLE_EVENTS // CLIENTS
    works = []
    for queue, decisions in zip(queues, later, strict=True):
        bodies = [body for _, body in sorted(queue, key=lambda x: x[0])]
        single_at = set(rnd.sample(range(len(bodies)), singles_each))
        requests: list[Request] = []
        batch: list[dict[str, Any]] = []
        size = rnd.randint(100, 400)
        for i, body in enumerate(bodies):
            if i in single_at:
                requests.append(("/v1/events", body))
                continue
            batch.append(body)
            if len(batch) == size:
                requests.append(("/v1/events/batch", {"events": batch}))
                batch, size = [], rnd.randint(100, 400)
        if batch:
            requests.append(("/v1/events/batch", {"events": batch}))
        for decision in decisions:  # spread the later decisions over the queue
            requests.insert(rnd.randrange(len(requests) + 1), decision)
        works.append(requests)
    return works


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    url = fresh_postgres(postgres_url, f"dunning_workers_{os.getpid()}")
    yield url
    drop_postgres(url)


def test_four_workers_count_every_decision_and_event_exactly_once(
    database: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    keys = live.migrate_with_keys(database)
    env = live.server_env(database)
    log = tmp_path / "server.log"
    rnd = random.Random(7)
    spawn = multiprocessing.get_context("spawn")
    with live.running(env, log, workers=WORKERS) as server, spawn.Pool(CLIENTS) as pool:
        assert len(live.workers_of(server)) == WORKERS
        live.set_up_campaign(server.base, keys["admin"])
        share = FIRST_DECISIONS // CLIENTS
        first = run_clients(
            pool,
            server.base,
            keys["sender"],
            [decide_requests(rnd, f"a{c}", share, share // 10) for c in range(CLIENTS)],
        )
        assert first["errors"] == [], first["errors"][:5]
        assert len(first["decisions"]) == FIRST_DECISIONS
        decided = time.monotonic()

        plan = plan_events(rnd, first["decisions"])
        planned = [body for _, body in plan]
        share = LATER_DECISIONS // CLIENTS
        later = [decide_requests(rnd, f"b{c}", share, share // 5) for c in range(CLIENTS)]
        second = run_clients(pool, server.base, keys["sender"], event_requests(rnd, plan, later))
        sent = time.monotonic()
        assert second["errors"] == [], second["errors"][:5]
        assert len(second["decisions"]) == LATER_DECISIONS

        decisions = dict(first["decisions"] + second["decisions"])
        assert len(decisions) == FIRST_DECISIONS + LATER_DECISIONS
        rows = live.export_rows(server.base, keys["admin"])
        exported = [row["decision_id"] for row in rows]
        assert len(exported) == len(set(exported)) == len(decisions)
        assert set(exported) == set(decisions)

        # every distinct event accepted once; every resend a duplicate, of the same decision
        debtor_decision = {debtor: d for d, debtor in first["decisions"]}
        expected_decision = {
            e["event_id"]: e.get("decision_id") or debtor_decision[e["debtor_id"]] for e in planned
        }
        statuses: dict[str, Counter[str]] = {}
        for event_id, status, decision_id in second["events"]:
            assert decision_id == expected_decision[event_id], event_id
            statuses.setdefault(event_id, Counter())[status] += 1
        assert len(second["events"]) == EVENTS + RESENDS
        assert statuses.keys() == expected_decision.keys()
        resent = Counter(e for e, _, _ in second["events"])
        for event_id, counted in statuses.items():
            assert counted == Counter(accepted=1, duplicate=resent[event_id] - 1), event_id
        assert count(database, Event) == EVENTS

        # outcomes per decision, counted once: flags, amounts, arm statistics, opt-outs
        kinds: dict[str, set[str]] = {}
        amounts: Counter[str] = Counter()
        for e in planned:
            decision_id = expected_decision[e["event_id"]]
            kinds.setdefault(decision_id, set()).add(e["type"])
            amounts[decision_id] += e.get("amount") or 0.0
        for row in rows:
            got = kinds.get(row["decision_id"], set())
            flags = (row["opened"], row["clicked"], row["paid"])
            assert flags == tuple(str(int(k in got)) for k in ("open", "click", "pay")), row
            assert float(row["amount"]) == pytest.approx(amounts[row["decision_id"]], abs=1e-6)
        arms = httpx.get(
            f"{server.base}/v1/campaigns/{live.CAMPAIGN}/arms",
            headers={"Authorization": f"Bearer {keys['admin']}"},
            timeout=60,
        )
        assert arms.status_code == 200, arms.text
        totals = Counter()
        for arm in arms.json()["arms"]:
            totals.update({k: arm[k] for k in ("sends", "opens", "clicks", "pays")})
            totals["amount"] += arm["amount"]
        assert totals["sends"] == len(decisions)
        for kind, name in (("open", "opens"), ("click", "clicks"), ("pay", "pays")):
            assert totals[name] == sum(kind in k for k in kinds.values()), name
        assert totals["amount"] == pytest.approx(sum(amounts.values()), rel=1e-9)
        # by decision: its channel (each debtor has one decision); by debtor, naming no
        # channel: every channel
        stops = [e for e in planned if e["type"] == "opt_out"]
        by_debtor = {debtor_of(e, decisions) for e in stops if "debtor_id" in e}
        by_decision = {debtor_of(e, decisions) for e in stops if "debtor_id" not in e}
        expected = len(CHANNELS) * len(by_debtor) + len(by_decision - by_debtor)
        assert count(database, OptOut) == expected

        # the delay model counts each decision's first open, click and pay once
        delays = Counter[str]()
        for (_, outcome, _), n in live.read_stats(database).delays.items():
            delays[outcome] += n
        assert delays == Counter(
            {k: sum(k in got for got in kinds.values()) for k in ("open", "click", "pay")}
        )
    output = log.read_text(errors="replace")
    assert "Traceback" not in output and "ERROR" not in output, output[-3000:]
    print(
        f"decisions {decided - started:.1f} s, events and later decisions {sent - decided:.1f} s,"
        f" whole test {time.monotonic() - started:.1f} s"
    )


def debtor_of(event: dict[str, Any], decisions: dict[str, str]) -> str:
    return str(event.get("debtor_id") or decisions[event["decision_id"]])


def count(url: str, model: Any) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return int(session.exec(select(func.count()).select_from(model)).one())
    finally:
        engine.dispose()
