"""Where a single decide's time goes in the server: the app's layers timed from inside.

Runs the bench_api setup (uvicorn, 1 worker, SQLite file, the same campaign) twice with the
app wrapped by a timing layer: once as it is, once with the decide service replaced by a
constant answer (the framework floor: FastAPI, middleware, auth, session, thread hop). One
driver client; prints medians of the client's latency, the ASGI app's time and the
service's time, and what is left outside the app (driver, socket, uvicorn's parsing).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
from pathlib import Path

import bench_api as bench

TIMED_APP = '''
"""create_app with a timing layer; medians written to $LAYERS_OUT at shutdown."""
import json, os, signal, time
from datetime import UTC, datetime
from api.app import create_app as _create
from api.schemas import DecideOut
from api.service import decisions

asgi, service = [], []
_decide = decisions.decide
if os.environ["LAYERS_MODE"] == "constant":
    def _decide(session, ctx, campaign, items, *, batch, render, before_commit=None):
        answer = DecideOut(send=False, segment="x", reasons=[], decided_at=datetime.now(UTC))
        return render([answer]).encode()

def timed(*args, **kwargs):
    t = time.perf_counter()
    try:
        return _decide(*args, **kwargs)
    finally:
        service.append(time.perf_counter() - t)

decisions.decide = timed

def write(*_):
    with open(os.environ["LAYERS_OUT"], "w") as out:
        json.dump({"asgi": asgi, "service": service}, out)
    os._exit(0)

signal.signal(signal.SIGTERM, write)

def create_app():
    app = _create()
    class Timed:
        def __init__(self, app):
            self.app = app
        async def __call__(self, scope, receive, send):
            if scope["type"] != "http" or not scope["path"].endswith("/decisions"):
                return await self.app(scope, receive, send)
            t = time.perf_counter()
            await self.app(scope, receive, send)
            asgi.append(time.perf_counter() - t)
    app.add_middleware(Timed)
    return app
'''


def median_ms(values: list[float], skip: int) -> float:
    return 1000 * statistics.median(values[skip:] or values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dunning-bench-layers-"))
    rows = []
    try:
        (folder / "timed_app.py").write_text(TIMED_APP)
        for mode in ("real", "constant"):
            env = {k: v for k, v in os.environ.items() if k != "DUNNING_DATABASE_URL"}
            env |= {
                "DUNNING_SQLITE_PATH": str(folder / f"{mode}.db"),
                "DUNNING_LOG_LEVEL": "warning",
                "LAYERS_MODE": mode,
                "LAYERS_OUT": str(folder / f"{mode}.json"),
                "PYTHONPATH": str(bench.ROOT),
            }
            key = bench.migrate_and_key(env)
            with bench.uvicorn("timed_app:create_app", env, "/healthz", folder) as base:
                bench.set_up_campaign(base, key)
                url = f"{base}/v1/campaigns/{bench.CAMPAIGN['key']}/decisions"
                client = bench.run_driver(url, key, args.seconds, 1, mode)
            layers = json.loads((folder / f"{mode}.json").read_text())
            skip = len(layers["asgi"]) - client["requests"]  # the warm-up's requests
            rows.append((mode, client, layers, max(skip, 0)))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("Single decide, 1 client, uvicorn 1 worker, SQLite file; medians in ms")
    print(f"{'':28}{'client':>9}{'app':>9}{'service':>9}{'outside':>9}{'req/s':>8}")
    for mode, client, layers, skip in rows:
        app = median_ms(layers["asgi"], skip)
        service = median_ms(layers["service"], skip)
        name = "decide" if mode == "real" else "constant answer (floor)"
        print(
            f"{name:28}{client['p50_ms']:>9.2f}{app:>9.2f}{service:>9.2f}"
            f"{client['p50_ms'] - app:>9.2f}{client['rps']:>8.0f}"
        )


if __name__ == "__main__":
    main()
