"""Round-trip time of sequential GET /healthz on one keep-alive connection to
`serve --workers N`: ~1 ms with TCP_NODELAY on the workers' sockets (api/protocol.py),
~44 ms per request without it (a delayed ACK). A figure, not a test: moved out of the
suite because a loaded machine makes any latency bound flaky.

    .venv/bin/python benchmarks/bench_healthz.py [--workers 4] [--requests 50] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.api.live import running, server_env


def one_run(base: str, requests: int) -> list[float]:
    with httpx.Client(base_url=base) as http:
        http.get("/healthz")
        took = []
        for _ in range(requests):
            t0 = time.perf_counter()
            http.get("/healthz")
            took.append(time.perf_counter() - t0)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        with running(server_env(url), Path(folder) / "server.log", workers=args.workers) as s:
            medians = [statistics.median(one_run(s.base, args.requests)) for _ in range(args.runs)]
    print(
        f"GET /healthz, serve --workers {args.workers}, {args.requests} sequential requests"
        f" x {args.runs} runs: median {statistics.median(medians) * 1000:.2f} ms"
        f" (runs: {', '.join(f'{m * 1000:.2f}' for m in medians)} ms)"
    )


if __name__ == "__main__":
    main()
