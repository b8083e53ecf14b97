"""Prometheus metrics and the middleware that records them.

One process: the counters live in its memory. Several workers (`dunning-bandit serve
--workers N`): `serve` sets PROMETHEUS_MULTIPROC_DIR before the workers start, each worker's
prometheus_client then keeps its counters in files there, and /metrics, whichever worker
answers, sums the files of all of them.
"""

from __future__ import annotations

import os
import time

from fastapi import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "dunning_requests_total", "HTTP requests", ["route", "method", "status"], registry=REGISTRY
)
LATENCY = Histogram(
    "dunning_request_seconds",
    "HTTP request latency",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)


class RecordMetrics:
    """ASGI middleware: counts each request by route, method and status, and times it (plain
    ASGI: Starlette's BaseHTTPMiddleware costs a task and a queue per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(route, scope["method"], str(status)).inc()
            LATENCY.labels(route, scope["method"]).observe(time.perf_counter() - start)


def exposition() -> Response:
    registry = REGISTRY
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
