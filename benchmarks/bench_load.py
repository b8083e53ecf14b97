"""Mixed load against several workers on PostgreSQL: throughput, p50, p99 and errors per kind.

One run:
1. a fresh PostgreSQL database (dropped afterwards), migrated; an admin and a sender key
   (templates_store.keys); `dunning-bandit serve --workers N` on it; a campaign segmented by
   risk and days past due with 3 templates = 6 arms, no quiet hours and no caps (every
   decide sends); 5,000 decisions made up front (batch decides) for the events to refer to;
2. --processes client processes (spawned; asyncio + httpx, keep-alive) send, for --seconds
   after a --warmup, open-loop at fixed total rates (each kind's requests leave on a fixed
   schedule whether or not earlier ones have answered, so a slow server cannot slow the
   load down and hide its own latency; latency is measured from the scheduled time):
   - single decides (--decide-rate per second), each for a new debtor;
   - batch decides of 100-1,000 new debtors (--batch-rate batches per second);
   - single events (--event-rate per second) and event batches of 100-500 events
     (--event-batch-rate per second): opens, clicks, pays and opt-outs on the decisions
     made up front, one in five by last touch (campaign + debtor), one in ten a resend of an
     event id sent before (answered "duplicate");
   with 4 or more processes, one sends the batch decides, one the event batches and the
   others the single requests;
3. per kind: requests, requests/s, items/s, p50, p99 and max latency, errors (transport
   errors, non-2xx, item errors in event batches, decides that did not send); then a check
   of the log: every acknowledged decision and accepted event stored, and nothing else.

Goals (issue 7): 0 errors; p99 < 50 ms for single decides. The clients share the machine
with the server and PostgreSQL: on 2 cores the figures are a lower bound of its capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import Session, select

from templates_store.db import make_engine
from templates_store.models import Decision, Event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the server helpers of the crash and multi-worker tests

from bench_api import TEMPLATES, VARIABLES  # noqa: E402

from tests.api.live import CAMPAIGN_BODY as LIVE_CAMPAIGN  # noqa: E402
from tests.api.live import migrate_with_keys, running, server_env  # noqa: E402
from tests.conftest import scratch_postgres  # noqa: E402

DEFAULT_POSTGRES = os.environ.get(
    "DUNNING_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CAMPAIGN = "load"
SEEDED = 5_000
KINDS = ("decide", "decide batch", "event", "event batch")
CAMPAIGN_BODY = {**LIVE_CAMPAIGN, "key": CAMPAIGN}  # every decide sends: no quiet hours, no caps


def debtor(debtor_id: str, rnd: random.Random) -> dict[str, Any]:
    return {
        "debtor_id": debtor_id,
        "attributes": {"risk": rnd.choice(("low", "medium", "high")), "dpd": rnd.randrange(120)},
        "channels": ["email", "sms", "voice"],
        "timezone": "Europe/Berlin",
        "locale": "en",
        "variables": VARIABLES,
    }


# --- the server -----------------------------------------------------------------------------


def set_up(base: str, admin: str, sender: str) -> list[tuple[str, str]]:
    """The campaign, its templates and SEEDED decisions; returns (decision id, debtor id)."""
    rnd = random.Random(0)
    made: list[tuple[str, str]] = []
    with httpx.Client(base_url=base, timeout=120) as http:
        a = {"Authorization": f"Bearer {admin}"}
        http.post("/v1/campaigns", json=CAMPAIGN_BODY, headers=a).raise_for_status()
        for template in TEMPLATES:
            http.post(f"/v1/campaigns/{CAMPAIGN}/templates", json=template, headers=a)
        for start in range(0, SEEDED, 1_000):
            items = [debtor(f"seed-{start + i}", rnd) for i in range(1_000)]
            r = http.post(
                f"/v1/campaigns/{CAMPAIGN}/decisions/batch",
                json={"items": items},
                headers={"Authorization": f"Bearer {sender}"},
            )
            r.raise_for_status()
            made += [
                (x["decision_id"], i["debtor_id"])
                for i, x in zip(items, r.json()["results"], strict=True)
            ]
    return made


# --- the clients (one process each) ----------------------------------------------------------


class Driver:
    """One client process: four paced streams; latencies of the measured requests."""

    def __init__(self, n: int, args: dict[str, Any], seeded: list[tuple[str, str]]) -> None:
        self.n = n
        self.args = args
        self.seeded = seeded
        self.rnd = random.Random(n)
        self.latency: dict[str, list[float]] = {k: [] for k in KINDS}
        self.items: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.errors: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.samples: list[str] = []
        self.decided: list[str] = []
        self.accepted: list[str] = []
        self.sent_events: list[dict[str, Any]] = []
        self.counter = 0

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.n}-{self.counter}"

    def event(self) -> dict[str, Any]:
        if self.sent_events and self.rnd.random() < 0.1:
            return self.rnd.choice(self.sent_events)  # a resend: answered "duplicate"
        decision_id, debtor_id = self.rnd.choice(self.seeded)
        kind = self.rnd.choices(["open", "click", "pay", "opt_out"], [45, 25, 25, 5])[0]
        occurred = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        body: dict[str, Any] = {
            "event_id": self.next_id("e"),
            "type": kind,
            "occurred_at": occurred,
        }
        if self.rnd.random() < 0.2:
            body |= {"campaign": CAMPAIGN, "debtor_id": debtor_id}
        else:
            body["decision_id"] = decision_id
        if kind == "pay":
            body |= {"amount": self.rnd.randint(100, 50_000) / 100, "currency": "EUR"}
        self.sent_events.append(body)
        return body

    def request(self, kind: str) -> tuple[str, dict[str, Any], int]:
        decide = f"/v1/campaigns/{CAMPAIGN}/decisions"
        if kind == "decide":
            return decide, debtor(self.next_id("s"), self.rnd), 1
        if kind == "decide batch":
            size = self.rnd.randint(100, 1_000)
            items = [debtor(self.next_id("b"), self.rnd) for _ in range(size)]
            return decide + "/batch", {"items": items}, size
        if kind == "event":
            return "/v1/events", self.event(), 1
        size = self.rnd.randint(100, 500)
        return "/v1/events/batch", {"events": [self.event() for _ in range(size)]}, size

    def error(self, kind: str, message: str) -> None:
        self.errors[kind] += 1
        if len(self.samples) < 5:
            self.samples.append(f"{kind}: {message[:300]}")

    def check(self, kind: str, r: httpx.Response) -> None:
        if not 200 <= r.status_code < 300:
            self.error(kind, f"{r.status_code} {r.text}")
            return
        body = r.json()
        if kind.startswith("decide"):
            for out in body.get("results", [body]):
                if out["send"]:
                    self.decided.append(out["decision_id"])
                else:
                    self.error(kind, f"no send: {out['reasons']}")
        else:
            for out in body.get("results", [body]):
                if out["status"] == "error":
                    self.error(kind, str(out))
                elif out["status"] == "accepted":
                    self.accepted.append(out["event_id"])

    async def one(
        self, http: httpx.AsyncClient, kind: str, at: float, measure_from: float, key: str
    ) -> None:
        path, body, size = self.request(kind)
        content = json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
        try:
            r = await http.post(path, content=content, headers=headers)
        except httpx.TransportError as exc:
            self.error(kind, f"{type(exc).__name__}: {exc}")
            return
        done = time.perf_counter()
        self.check(kind, r)
        if at >= measure_from:
            self.latency[kind].append(done - at)
            self.items[kind] += size

    async def paced(
        self,
        kind: str,
        rate: float,
        start: float,
        measure_from: float,
        stop: float,
        send: Callable[[str, float, float], Awaitable[None]],
    ) -> None:
        if rate <= 0:
            return
        interval = 1.0 / rate
        at = start + self.rnd.uniform(0, interval)  # the processes' schedules interleave
        tasks: list[asyncio.Task[None]] = []
        while at < stop:
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(kind, at, measure_from)))
            at += interval
        await asyncio.gather(*tasks)

    async def run(self, base: str, key: str) -> None:
        a = self.args
        processes = roles(a["processes"])
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:

            async def send(kind: str, at: float, measure_from: float) -> None:
                await self.one(http, kind, at, measure_from, key)

            start = time.perf_counter()
            measure_from = start + a["warmup"]
            stop = measure_from + a["seconds"]
            offered = {
                "decide": a["decide_rate"],
                "decide batch": a["batch_rate"],
                "event": a["event_rate"],
                "event batch": a["event_batch_rate"],
            }
            rates = {
                kind: rate / sum(kind in p for p in processes)
                for kind, rate in offered.items()
                if kind in processes[self.n]
            }
            await asyncio.gather(
                *(self.paced(k, r, start, measure_from, stop, send) for k, r in rates.items())
            )


def roles(processes: int) -> list[tuple[str, ...]]:
    """The kinds each client process sends: with 4 or more, the batches get their own
    processes (building and parsing a 1,000-item body takes a client tens of milliseconds,
    which would otherwise show up in the latency of its single requests)."""
    if processes < 4:
        return [KINDS] * processes
    return [("decide", "event")] * (processes - 2) + [("decide batch",), ("event batch",)]


def drive(
    n: int, base: str, key: str, args: dict[str, Any], seeded: list[tuple[str, str]]
) -> dict[str, Any]:
    driver = Driver(n, args, seeded)
    asyncio.run(driver.run(base, key))
    return {
        "latency": driver.latency,
        "items": driver.items,
        "errors": driver.errors,
        "samples": driver.samples,
        "decided": driver.decided,
        "accepted": driver.accepted,
    }


# --- the report -----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def cpu_busy(before: tuple[int, int], after: tuple[int, int]) -> float:
    return (after[0] - before[0]) / max(after[1] - before[1], 1)


def stored(url: str) -> tuple[set[str], set[str]]:
    engine = make_engine(url)
    with Session(engine) as session:
        decisions = set(session.exec(select(Decision.id)).all())
        events = set(session.exec(select(Event.event_id)).all())
        assert session.exec(select(func.count()).select_from(Event)).one() == len(events)
    engine.dispose()
    return decisions, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="load before measuring")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--decide-rate", type=float, default=20.0, help="single decides/s")
    parser.add_argument("--batch-rate", type=float, default=0.2, help="batch decides/s")
    parser.add_argument("--event-rate", type=float, default=20.0, help="single events/s")
    parser.add_argument("--event-batch-rate", type=float, default=0.2, help="event batches/s")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    args = parser.parse_args()

    with scratch_postgres(args.postgres_url, f"dunning_bench_load_{os.getpid()}") as url:
        made = migrate_with_keys(url)
        log = Path(f"/tmp/dunning-bench-load-{os.getpid()}.log")
        with running(server_env(url), log, workers=args.workers) as server:
            base = server.base
            seeded = set_up(base, made["admin"], made["sender"])
            spawn = multiprocessing.get_context("spawn")
            with spawn.Pool(args.processes) as pool:
                pool.map(time.sleep, [0.0] * args.processes)  # the clients are up
                clients = pool.starmap_async(
                    drive,
                    [(n, base, made["sender"], vars(args), seeded) for n in range(args.processes)],
                )
                time.sleep(args.warmup)
                busy_from = cpu_times()
                time.sleep(args.seconds)
                busy = cpu_busy(busy_from, cpu_times())
                results = clients.get()
            time.sleep(1)
            decisions, events = stored(url)
        server_log = log.read_text(errors="replace")
        log.unlink()

    print(
        f"Mixed load: `dunning-bandit serve --workers {args.workers}` on PostgreSQL, "
        f"{args.processes} client processes (asyncio + httpx, open loop), {args.seconds:g} s "
        f"measured after {args.warmup:g} s warm-up; {os.cpu_count()} CPUs shared by clients, "
        "server and database"
    )
    print(
        f"offered: {args.decide_rate:g} single decides/s, {args.batch_rate:g} batch decides/s "
        f"(100-1,000 debtors), {args.event_rate:g} single events/s, {args.event_batch_rate:g} "
        f"event batches/s (100-500 events; 10% resends, 20% last touch)"
    )
    print(f"CPU busy while measured: {100 * busy:.0f}% of {os.cpu_count()} CPUs")
    print()
    print(
        f"{'':14}{'requests':>9}{'req/s':>8}{'items/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'max ms':>9}{'errors':>8}"
    )
    total_errors = 0
    p99: dict[str, float] = {}
    for kind in KINDS:
        lat = [x for r in results for x in r["latency"][kind]]
        items = sum(r["items"][kind] for r in results)
        errors = sum(r["errors"][kind] for r in results)
        total_errors += errors
        p99[kind] = 1000 * percentile(lat, 0.99)
        print(
            f"{kind:14}{len(lat):>9}{len(lat) / args.seconds:>8.1f}{items / args.seconds:>9.1f}"
            f"{1000 * percentile(lat, 0.5):>9.1f}{p99[kind]:>9.1f}"
            f"{1000 * max(lat, default=float('nan')):>9.1f}{errors:>8}"
        )
    for r in results:
        for sample in r["samples"]:
            print(f"  error: {sample}")
    acknowledged = {d for d, _ in seeded} | {d for r in results for d in r["decided"]}
    accepted = {e for r in results for e in r["accepted"]}
    print()
    print(
        f"log: {len(acknowledged):,} decisions acknowledged, {len(decisions):,} stored "
        f"({len(acknowledged - decisions)} missing, {len(decisions - acknowledged)} extra); "
        f"{len(accepted):,} events accepted, {len(events):,} stored "
        f"({len(accepted - events)} missing, {len(events - accepted)} extra)"
    )
    problems = server_log.count("Traceback")
    print(f"server log: {problems} tracebacks")
    verdict = {True: "ok", False: "MISSED"}
    print(f"{'errors':30}{total_errors:>8}     goal 0         {verdict[total_errors == 0]}")
    print(
        f"{'single decide p99 (ms)':30}{p99['decide']:>8.1f}     goal < 50      "
        f"{verdict[p99['decide'] < 50]}"
    )


if __name__ == "__main__":
    main()
