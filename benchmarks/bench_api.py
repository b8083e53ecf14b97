"""HTTP API throughput: single decides against the real service vs two hand-written anchors,
and one 10,000-item batch decide.

One run:
1. a temp SQLite file, `dunning-bandit migrate`, an admin key (templates_store.keys);
2. `uvicorn api.app:create_app --factory`, 1 worker, on that file; a campaign segmented by
   risk and days past due, with 3 templates = 6 arms (email, sms, voice) and `"caps": []`
   (a campaign that sets no caps gets a daily cap of one contact; every debtor here is new,
   and the anchors apply no rules either);
3. the two anchors (benchmarks/anchor_apps.py), each a FastAPI app with one sync route (like
   the API's) in its own uvicorn process with the same settings, taking the same request body
   parsed as JSON and doing the same numpy pick (rng.beta(a, b).argmax() on a fixed posterior
   of 6 arms):
   - bare: the pick and nothing else (no store);
   - bare-durable: the pick plus one INSERT of the decision (id, debtor_id, arm, propensity,
     decided_at) into its own SQLite file in WAL mode with synchronous=NORMAL, committed per
     request: the durability the service gives a decision;
4. a separate driver process sends single decides for --seconds (after a 2 s warm-up) from
   N concurrent clients (asyncio + httpx, keep-alive, one connection each), every request a
   new debtor, N in --concurrency (default 1 and 4): requests/s, p50 and p99 latency as the
   client sees it, and the server process's CPU time (user + system) per request over the
   measured window, which load on the machine moves less than throughput. The three servers
   are up together and measured back to back in each of --runs rounds (the order rotating by
   round), so the anchors share the API's machine load; each figure is the median over the
   rounds, each ratio the median of the rounds' ratios;
5. POST /decisions/batch with 10,000 new debtors, 3 times: median seconds.

6. with --history (instead of 1-5, issue 14): one API server with allocation reuse off
   (DUNNING_ALLOCATION_CACHE_SECONDS=0), two campaigns of 12 segments each, the one above
   (risk x dpd buckets) and one segmented by risk and the history attribute touch (buckets
   1, 2, 3, 4+); single decides of new debtors to each, back to back in each round:
   requests/s, latency and CPU per request of both, and the ratio with/without history.

Goals: API / bare-durable >= 1/2 at 1 and 4 clients (issue 13; durability is part of the
job, so the anchor pays for it too); API / bare >= 1/2, p99 under 20 ms, the batch under 1 s
(issue 4); with history attributes in segment_by >= 0.8x without (issue 14). The driver shares the machine with the servers: on 2 cores the figures are a lower
bound of a server's capacity; the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from api.schemas import TEMPLATE_EXAMPLE

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES: list[dict[str, Any]] = [
    {"key": "friendly", **TEMPLATE_EXAMPLE},
    {
        "key": "firm",
        "cost": {"sms": 0.01, "voice": 0.05},
        "renditions": [
            {
                "channel": "sms",
                "locale": "en",
                "body": "{{ name }}: {{ amount_due }} is overdue. Pay now: {{ pay_url }}. Reply STOP to opt out",
            },
            {
                "channel": "voice",
                "locale": "en",
                "body": "Hello {{ name }}. Your payment of {{ amount_due }} is overdue.",
            },
        ],
    },
    {
        "key": "offer",
        "cost": {"sms": 0.01},
        "renditions": [
            {
                "channel": "email",
                "locale": "en",
                "subject": "Pay in three instalments, {{ name }}",
                "body": '<p>{{ amount_due }} in three parts: <a href="{{ pay_url }}">choose a plan</a>. <a href="{{ opt_out_url }}">Unsubscribe</a></p>',
            },
            {
                "channel": "sms",
                "locale": "en",
                "body": "{{ name }}, pay {{ amount_due }} in 3 parts: {{ pay_url }} Reply STOP to opt out",
            },
        ],
    },
]
ARMS = sum(len(t["renditions"]) for t in TEMPLATES)
CAMPAIGN = {
    "key": "bench",
    "segment_by": ["risk", "dpd"],
    "buckets": {"dpd": [0, 31, 61, 91]},
    "burn_in": 0,
    "caps": [],
}
# the same number of segments (3 risks x 4 buckets), touch instead of days past due
HISTORY_CAMPAIGN = {
    **CAMPAIGN,
    "key": "bench-history",
    "segment_by": ["risk", "touch"],
    "buckets": {"touch": [1, 2, 3, 4]},
}
VARIABLES = {
    "name": "Ada",
    "amount_due": "$120.00",
    "pay_url": "https://pay.example/x",
    "opt_out_url": "https://pay.example/stop",
}
# noon UTC today: 13:00 in Berlin, outside quiet hours whenever the benchmark runs
AT = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0).isoformat()


def debtor(debtor_id: str, rnd: random.Random) -> dict[str, Any]:
    return {
        "debtor_id": debtor_id,
        "attributes": {
            "risk": rnd.choice(("low", "medium", "high")),
            "dpd": rnd.randrange(0, 120),
            "state": "NY",
        },
        "channels": ["email", "sms", "voice"],
        "timezone": "Europe/Berlin",
        "locale": "en",
        "variables": VARIABLES,
        "at": AT,
    }


SERVER_PIDS: dict[str, int] = {}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; nan elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server at {url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server at {url} did not come up in {seconds:g} s")


@contextmanager
def uvicorn(target: str, env: dict[str, str], health: str, app_dir: Path) -> Iterator[str]:
    """``python -m uvicorn TARGET`` with 1 worker on a free port; yields its base URL (its
    process id in ``SERVER_PIDS``)."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1", "--log-level", "warning"]
    command += ["--app-dir", str(app_dir)]
    if target.endswith("create_app"):
        command.append("--factory")
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    SERVER_PIDS[base] = process.pid
    try:
        wait_until_up(base + health, process)
        yield base
    finally:
        SERVER_PIDS.pop(base, None)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def migrate_and_key(env: dict[str, str]) -> str:
    """`dunning-bandit migrate` on the temp file, then an admin key made with
    templates_store.keys (in a subprocess that sees the same environment)."""
    cli = Path(sys.executable).with_name("dunning-bandit")
    command = [str(cli)] if cli.exists() else [sys.executable, "-m", "api.cli"]
    subprocess.run([*command, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
    make_key = (
        "from datetime import UTC, datetime\n"
        "from sqlmodel import Session\n"
        "from api.settings import get_settings\n"
        "from templates_store import keys\n"
        "from templates_store.db import make_engine\n"
        "with Session(make_engine(get_settings().resolved_database_url)) as s:\n"
        "    _, secret = keys.create_key(s, role='admin', now=datetime.now(UTC))\n"
        "    s.commit()\n"
        "print(secret)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", make_key], env=env, cwd=ROOT, check=True, capture_output=True
    )
    return out.stdout.decode().strip()


def set_up_campaign(base: str, key: str, campaign: dict[str, Any] = CAMPAIGN) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        r = client.post("/v1/campaigns", json=campaign)
        r.raise_for_status()
        for template in TEMPLATES:
            client.post(
                f"/v1/campaigns/{campaign['key']}/templates", json=template
            ).raise_for_status()


# --- the driver (a separate process) -------------------------------------------------------


async def drive(
    url: str,
    key: str,
    seconds: float,
    warmup: float,
    concurrency: int,
    prefix: str,
    pid: int | None = None,
) -> dict[str, Any]:
    """``concurrency`` clients in a loop; latencies of the requests started after warm-up, and
    the server's CPU time over the measured window (when its process id is given)."""
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    latencies: list[float] = []
    failures = 0
    sends = 0
    start = time.perf_counter()
    measure_from = start + warmup
    stop = measure_from + seconds

    async def client(n: int) -> None:
        nonlocal failures, sends
        rnd = random.Random(n)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as http:
            i = 0
            while True:
                body = json.dumps(debtor(f"{prefix}-{n}-{i}", rnd)).encode()
                i += 1
                t0 = time.perf_counter()
                if t0 >= stop:
                    return
                r = await http.post(url, content=body)
                t1 = time.perf_counter()
                if t0 >= measure_from:
                    latencies.append(t1 - t0)
                    if r.status_code != 200:
                        failures += 1
                    elif r.json().get("send"):
                        sends += 1

    cpu: list[float] = []

    async def server_cpu() -> None:
        for moment in (measure_from, stop):
            await asyncio.sleep(max(0.0, moment - time.perf_counter()))
            cpu.append(cpu_seconds(pid) if pid is not None else float("nan"))

    await asyncio.gather(server_cpu(), *(client(n) for n in range(concurrency)))
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "failures": failures,
        "sends": sends,
        "cpu_ms": 1000 * (cpu[1] - cpu[0]) / max(1, len(latencies)),
    }


def run_driver(
    url: str, key: str, seconds: float, concurrency: int, prefix: str, pid: int | None = None
) -> dict[str, Any]:
    command = [sys.executable, __file__, "--drive", url, "--key", key, "--prefix", prefix]
    command += ["--seconds", str(seconds), "--concurrency", str(concurrency)]
    if pid is not None:
        command += ["--pid", str(pid)]
    out = subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def batch_seconds(base: str, key: str, size: int, runs: int) -> tuple[float, list[float]]:
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    times = []
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        for run in range(runs):
            rnd = random.Random(run)
            items = [debtor(f"batch-{run}-{i}", rnd) for i in range(size)]
            body = json.dumps({"items": items}).encode()
            t0 = time.perf_counter()
            r = client.post(f"/v1/campaigns/{CAMPAIGN['key']}/decisions/batch", content=body)
            times.append(time.perf_counter() - t0)
            r.raise_for_status()
            results = r.json()["results"]
            assert len(results) == size and all(x["send"] for x in results), r.text[:300]
    return statistics.median(times), times


SERVERS = ("api", "bare", "durable")
LABELS = {
    "api": "API single decide",
    "bare": "bare numpy pick",
    "durable": "bare + durable INSERT",
}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds of one server at one client count; counts summed."""
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "cpu_ms": statistics.median(r["cpu_ms"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "failures": sum(r["failures"] for r in runs),
        "all_rps": [r["rps"] for r in runs],
    }


def ratios(numerator: list[dict[str, Any]], denominator: list[dict[str, Any]]) -> list[float]:
    """The rounds' ratios of requests/s (the servers of a round were measured back to back)."""
    return [a["rps"] / b["rps"] for a, b in zip(numerator, denominator, strict=True)]


def measure(
    urls: dict[str, str],
    pids: dict[str, int],
    key: str,
    seconds: float,
    clients: list[int],
    rounds: int,
) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """``rounds`` rounds; in each, every client count against every server, back to back,
    the servers' order rotating by round. Every request is a new debtor."""
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in range(rounds):
        order = SERVERS[r % len(SERVERS) :] + SERVERS[: r % len(SERVERS)]
        for c in clients:
            for name in order:
                prefix = f"{name}-{c}-r{r}"
                result = run_driver(urls[name], key, seconds, c, prefix, pids[name])
                results.setdefault((name, c), []).append(result)
    return results


def committed_rows(path: Path) -> int:
    """Rows in the bare-durable anchor's table, after checking the file is in WAL mode."""
    with closing(sqlite3.connect(path)) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal", f"the anchor's database is in journal mode {mode}"
        return int(conn.execute("SELECT count(*) FROM decision").fetchone()[0])


def load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def history_comparison(seconds: float, clients: list[int], rounds: int) -> None:
    """Single decides with and without history attributes in segment_by (step 6)."""
    folder = Path(tempfile.mkdtemp(prefix="dunning-bench-api-history-"))
    load_before = load_average()
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    names = ("plain", "history")
    try:
        env = {k: v for k, v in os.environ.items() if k != "DUNNING_DATABASE_URL"}
        env |= {"DUNNING_SQLITE_PATH": str(folder / "bench.db"), "DUNNING_LOG_LEVEL": "warning"}
        env |= {"DUNNING_ALLOCATION_CACHE_SECONDS": "0"}
        key = migrate_and_key(env)
        with uvicorn("api.app:create_app", env, "/healthz", ROOT) as api:
            urls = {}
            for name, campaign in zip(names, (CAMPAIGN, HISTORY_CAMPAIGN), strict=True):
                set_up_campaign(api, key, campaign)
                urls[name] = f"{api}/v1/campaigns/{campaign['key']}/decisions"
            pid = SERVER_PIDS[api]
            for r in range(rounds):
                order = names if r % 2 == 0 else names[::-1]
                for c in clients:
                    for name in order:
                        result = run_driver(urls[name], key, seconds, c, f"{name}-{c}-r{r}", pid)
                        results.setdefault((name, c), []).append(result)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"History attributes in segment_by (issue 14): one API server (uvicorn, 1 worker, "
        f"SQLite, allocation reuse off), {ARMS} arms, caps [], 12 segments in both campaigns "
        f"(risk x dpd buckets; risk x touch buckets), new debtors, {seconds:g} s after a 2 s "
        f"warm-up; {rounds} round(s), medians; load average {load_before} before, "
        f"{load_average()} after"
    )
    print(
        f"{'':34}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms':>8}{'requests':>10}{'non-200':>9}"
    )
    labels = {"plain": "segment_by risk, dpd", "history": "segment_by risk, touch"}
    for c in clients:
        for name in names:
            r = summary(results[name, c])
            print(
                f"{f'{labels[name]}, N={c}':34}{r['rps']:>8.0f}{r['p50_ms']:>9.2f}"
                f"{r['p99_ms']:>9.2f}{r['cpu_ms']:>8.2f}{r['requests']:>10}{r['failures']:>9}"
            )
        each = ratios(results["history", c], results["plain", c])
        ratio = statistics.median(each)
        rounds_text = ", ".join(f"{x:.2f}" for x in each)
        verdict = "ok" if ratio >= 0.8 else "MISSED"
        print(
            f"{f'ratio with / without history, N={c}':42}{ratio:>8.3f}   goal >= 0.80  "
            f"{verdict:6}   rounds: {rounds_text}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", default="1,4", help="comma-separated client counts")
    parser.add_argument("--runs", type=int, default=3, help="rounds of the single decides")
    parser.add_argument("--batch", type=int, default=10_000, help="0: no batch")
    parser.add_argument("--batch-runs", type=int, default=3)
    parser.add_argument(
        "--history",
        action="store_true",
        help="instead: single decides with vs without history attributes in segment_by",
    )
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="d", help=argparse.SUPPRESS)
    parser.add_argument("--pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:  # the driver process
        result = asyncio.run(
            drive(
                args.drive,
                args.key,
                args.seconds,
                2.0,
                int(args.concurrency),
                args.prefix,
                args.pid,
            )
        )
        print(json.dumps(result))
        return

    if args.history:
        clients = [int(c) for c in args.concurrency.split(",")]
        history_comparison(args.seconds, clients, args.runs)
        return
    folder = Path(tempfile.mkdtemp(prefix="dunning-bench-api-"))
    load_before = load_average()
    batch, batch_runs = 0.0, list[float]()
    try:
        env = {k: v for k, v in os.environ.items() if k != "DUNNING_DATABASE_URL"}
        env |= {"DUNNING_SQLITE_PATH": str(folder / "bench.db"), "DUNNING_LOG_LEVEL": "warning"}
        env |= {"ANCHOR_ARMS": str(ARMS), "ANCHOR_DB": str(folder / "anchor.db")}
        key = migrate_and_key(env)
        clients = [int(c) for c in args.concurrency.split(",")]
        here = Path(__file__).resolve().parent
        with (
            uvicorn("api.app:create_app", env, "/healthz", ROOT) as api,
            uvicorn("anchor_apps:bare", env, "/docs", here) as bare,
            uvicorn("anchor_apps:durable", env, "/docs", here) as durable,
        ):
            set_up_campaign(api, key)
            urls = {
                "api": f"{api}/v1/campaigns/{CAMPAIGN['key']}/decisions",
                "bare": f"{bare}/decide",
                "durable": f"{durable}/decide",
            }
            bases = {"api": api, "bare": bare, "durable": durable}
            pids = {name: SERVER_PIDS[base] for name, base in bases.items()}
            results = measure(urls, pids, key, args.seconds, clients, args.runs)
            durable_rows = committed_rows(folder / "anchor.db")
            if args.batch > 0:
                batch, batch_runs = batch_seconds(api, key, args.batch, args.batch_runs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    load_after = load_average()

    print(
        f"HTTP API benchmark: uvicorn, 1 worker each, SQLite files; {ARMS} arms, 12 segments, "
        f"caps []; driver: N asyncio httpx clients (keep-alive) in a separate process, new "
        f"debtors, {args.seconds:g} s after a 2 s warm-up; {args.runs} round(s), medians; "
        f"{os.cpu_count()} CPUs, load average (1/5/15 min) {load_before} before, "
        f"{load_after} after"
    )
    print()
    print(
        f"{'':34}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms':>8}{'requests':>10}"
        f"{'non-200':>9}  rounds req/s"
    )
    for c in clients:
        for name in SERVERS:
            r = summary(results[name, c])
            rounds = ", ".join(f"{x:.0f}" for x in r["all_rps"])
            print(
                f"{f'{LABELS[name]}, N={c}':34}{r['rps']:>8.0f}{r['p50_ms']:>9.2f}"
                f"{r['p99_ms']:>9.2f}{r['cpu_ms']:>8.2f}{r['requests']:>10}{r['failures']:>9}"
                f"  {rounds}"
            )
    measured = sum(r["requests"] for c in clients for r in results["durable", c])
    print("CPU ms: the server process's user + system CPU time per request (measured window)")
    print(
        f"bare-durable rows committed (WAL, synchronous=NORMAL): {durable_rows}, "
        f"measured requests {measured} (the rest: warm-up)"
    )
    print()
    verdict = {True: "ok", False: "MISSED"}
    for c in clients:
        for anchor, issue in (("durable", 13), ("bare", 4)):
            each = ratios(results["api", c], results[anchor, c])
            ratio = statistics.median(each)
            rounds = ", ".join(f"{x:.2f}" for x in each)
            name = f"ratio API / {'bare-durable' if anchor == 'durable' else 'bare'}, N={c}"
            print(
                f"{name:42}{ratio:>8.3f}   goal >= 0.50  {verdict[ratio >= 0.5]:6}"
                f"   rounds: {rounds} (issue {issue})"
            )
        p99 = summary(results["api", c])["p99_ms"]
        print(f"{f'API p99 (ms), N={c}':42}{p99:>8.2f}   goal < 20     {verdict[p99 < 20]}")
    if args.batch > 0:
        runs = ", ".join(f"{t:.3f}" for t in batch_runs)
        print(
            f"{f'batch of {args.batch:,} over HTTP (s, median of {args.batch_runs})':42}"
            f"{batch:>8.3f}   goal < 1      {verdict[batch < 1]}   runs: {runs}"
        )


if __name__ == "__main__":
    main()
