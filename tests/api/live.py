"""A real server for the crash and multi-worker tests: uvicorn (or `dunning-bandit serve`) in
a subprocess on a migrated database, and the helpers that read its store afterwards."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session

from templates_store import catalog, keys, statistics
from templates_store.db import make_engine
from templates_store.migrate import upgrade
from tests.api.conftest import FIRM, FRIENDLY, VARIABLES

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("dunning-bandit")
CAMPAIGN = "loans"
# everything may be sent at any hour to anyone: every decide with a new debtor sends
CAMPAIGN_BODY: dict[str, Any] = {
    "key": CAMPAIGN,
    "segment_by": ["risk", "dpd"],
    "buckets": {"dpd": [0, 31, 61, 91]},
    "burn_in": 0,
    "quiet_hours": None,
    "caps": [],
}


def server_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a server (and of the CLI) on ``url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUNNING_")}
    if url.startswith("sqlite:///"):
        env["DUNNING_SQLITE_PATH"] = url.removeprefix("sqlite:///")
    else:
        env["DUNNING_DATABASE_URL"] = url
    env["DUNNING_LOG_LEVEL"] = "warning"
    env.update(extra)
    return env


def migrate_with_keys(url: str) -> dict[str, str]:
    """Migrate, then one admin and one sender key (templates_store.keys)."""
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            made = {
                role: keys.create_key(session, role=role, now=datetime.now(UTC))[1]
                for role in ("admin", "sender")
            }
            session.commit()
    finally:
        engine.dispose()
    return made


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def start(
    env: dict[str, str], log: Path, *, workers: int | None = None, seconds: float = 60.0
) -> Server:
    """One uvicorn process (``workers`` None), or ``dunning-bandit serve --workers N``; in its
    own process group, so the group can be signalled as one."""
    port = free_port()
    if workers is None:
        command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    else:
        command = [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", str(workers)]
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    wait_until_up(server, seconds, workers or 1)
    return server


def wait_until_up(server: Server, seconds: float, workers: int) -> None:
    """Until /healthz answers and, with several workers, all of them are running."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"the server exited with {server.process.returncode}:\n{server.output()}"
            )
        try:
            if httpx.get(server.base + "/healthz", timeout=2.0).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    else:
        raise RuntimeError(f"the server did not come up in {seconds:g} s:\n{server.output()}")
    if workers > 1:  # the other workers may still be importing; let them finish
        settle = time.monotonic() + 10.0
        while time.monotonic() < settle and len(workers_of(server)) < workers:
            time.sleep(0.1)
        time.sleep(1.0)


def workers_of(server: Server) -> list[int]:
    """The worker processes uvicorn spawned (not its multiprocessing resource tracker)."""
    pid = server.process.pid
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    found = []
    for child in children:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            found.append(int(child))
    return found


def kill_hard(server: Server) -> None:
    """SIGKILL the server (its whole process group) and reap it."""
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)


def stop(server: Server) -> None:
    """SIGTERM, then SIGKILL after 15 s; the whole process group (uvicorn's workers too).
    Nothing when the server is already gone (kill_hard killed its group)."""
    if server.process.poll() is not None:
        return
    os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
    deadline = time.monotonic() + 5.0  # uvicorn's workers and resource tracker exit after it
    while time.monotonic() < deadline and _group_alive(server.process.pid):
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):  # whatever outlived its supervisor
        os.killpg(server.process.pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def running(env: dict[str, str], log: Path, *, workers: int | None = None) -> Iterator[Server]:
    server = start(env, log, workers=workers)
    try:
        yield server
    finally:
        stop(server)


def set_up_campaign(base: str, admin: str) -> None:
    headers = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        r = client.post("/v1/campaigns", json=CAMPAIGN_BODY)
        assert r.status_code == 201, r.text
        for template in (FRIENDLY, FIRM):
            r = client.post(f"/v1/campaigns/{CAMPAIGN}/templates", json=template)
            assert r.status_code == 201, r.text


def debtor(debtor_id: str, n: int) -> dict[str, Any]:
    """A debtor of one of 3 x 4 segments with email, sms and voice: always sendable."""
    return {
        "debtor_id": debtor_id,
        "attributes": {"risk": ("low", "medium", "high")[n % 3], "dpd": (n * 7) % 120},
        "channels": ["email", "sms", "voice"],
        "timezone": "UTC",
        "locale": "en",
        "variables": VARIABLES,
    }


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def export_ids(base: str, admin: str) -> list[str]:
    """The decision ids of the CSV export, in its order (duplicates kept)."""
    return [row["decision_id"] for row in export_rows(base, admin)]


def export_rows(base: str, admin: str) -> list[dict[str, str]]:
    import csv
    import io

    r = httpx.get(
        f"{base}/v1/campaigns/{CAMPAIGN}/decisions/export",
        headers={"Authorization": f"Bearer {admin}"},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    return list(csv.DictReader(io.StringIO(r.text)))


@dataclass
class Stats:
    """Every statistic of the campaign, in a comparable form."""

    arm_stats: dict[tuple[int, int], dict[str, float]] = field(default_factory=dict)
    arm_days: dict[tuple[int, int, int], int] = field(default_factory=dict)
    delays: dict[tuple[str, str, int], int] = field(default_factory=dict)


def read_stats(url: str) -> Stats:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            campaign = catalog.get_campaign(session, key=CAMPAIGN)
            assert campaign is not None and campaign.id is not None
            cid = campaign.id
            rows = statistics.stat_rows(session, campaign_id=cid)
            days = statistics.day_rows(session, campaign_id=cid, since_day=0)
            delays = statistics.delay_rows(session, campaign_id=cid)
    finally:
        engine.dispose()
    out = Stats()
    for row in rows:
        values = {k: float(v) for k, v in vars(row).items() if k not in ("segment_id", "arm_id")}
        out.arm_stats[(row.segment_id, row.arm_id)] = values
    out.arm_days = {(s, a, d): n for s, a, d, n in days if n}
    out.delays = {(c, o, d): n for c, o, d, n in delays if n}
    return out


def rebuild_stats(env: dict[str, str]) -> str:
    """`dunning-bandit rebuild-stats` in a subprocess with the server's environment."""
    done = subprocess.run(
        [str(CLI), "rebuild-stats"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def assert_same_stats(live: Stats, rebuilt: Stats) -> None:
    """Counts equal exactly; weighted sums and amounts up to float rounding."""
    assert live.arm_days == rebuilt.arm_days
    assert live.delays == rebuilt.delays
    assert live.arm_stats.keys() == rebuilt.arm_stats.keys()
    for key, values in live.arm_stats.items():
        again = rebuilt.arm_stats[key]
        for name, value in values.items():
            assert math.isclose(value, again[name], rel_tol=1e-9, abs_tol=1e-6), (
                key,
                name,
                value,
                again[name],
            )
