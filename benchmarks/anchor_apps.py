"""The anchors of benchmarks/bench_api.py: what a team would hand-write instead of the service.

Both are FastAPI apps with one sync route (like the API's decide) that takes the decide request
body parsed as JSON and does the same numpy pick (``rng.beta(a, b).argmax()`` on a fixed
posterior of ``ANCHOR_ARMS`` arms). Run each in its own uvicorn process:

- ``anchor_apps:bare``: the pick and nothing else (no store);
- ``anchor_apps:durable``: the pick, then one durable INSERT of the decision
  (id, debtor_id, arm, propensity, decided_at) into a SQLite file (``ANCHOR_DB``) in WAL mode
  with ``synchronous=NORMAL``, committed before the answer: the service's durability.
  One connection per worker thread (sqlite3, stdlib), busy timeout as the service's.

Not part of the product: nothing outside benchmarks/ imports this module.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
from fastapi import Body, FastAPI

ARMS = int(os.environ.get("ANCHOR_ARMS", "6"))
DB = os.environ.get("ANCHOR_DB", "")
BUSY_TIMEOUT_MS = 30_000
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS decision (id TEXT PRIMARY KEY, debtor_id TEXT NOT NULL, "
    "arm INTEGER NOT NULL, propensity REAL NOT NULL, decided_at TEXT NOT NULL)"
)
INSERT = "INSERT INTO decision (id, debtor_id, arm, propensity, decided_at) VALUES (?, ?, ?, ?, ?)"

rng = np.random.default_rng(0)
alpha = 1.0 + rng.integers(5, 60, ARMS).astype(float)
beta = 1.0 + rng.integers(900, 2000, ARMS).astype(float)

bare = FastAPI()
durable = FastAPI()


@bare.post("/decide")
def bare_decide(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    arm = int(rng.beta(alpha, beta).argmax())
    return {"debtor_id": body["debtor_id"], "send": True, "arm": arm, "propensity": 1.0 / ARMS}


_local = threading.local()


def connection() -> sqlite3.Connection:
    """This thread's connection to ``ANCHOR_DB`` (WAL, synchronous=NORMAL), opened once; the
    table is created on first use."""
    conn: sqlite3.Connection | None = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(DB, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        with conn:
            conn.execute(SCHEMA)
        _local.conn = conn
    return conn


@durable.post("/decide")
def durable_decide(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    arm = int(rng.beta(alpha, beta).argmax())
    decision_id = str(uuid.uuid4())
    propensity = 1.0 / ARMS
    decided_at = datetime.now(UTC).isoformat()
    conn = connection()
    with conn:  # one transaction per request: committed (WAL, synchronous=NORMAL) or rolled back
        conn.execute(INSERT, (decision_id, body["debtor_id"], arm, propensity, decided_at))
    return {
        "id": decision_id,
        "debtor_id": body["debtor_id"],
        "send": True,
        "arm": arm,
        "propensity": propensity,
        "decided_at": decided_at,
    }
