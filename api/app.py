"""The FastAPI application."""

from __future__ import annotations

import gc
from typing import Literal

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors, metrics, openapi_doc
from api.routes import campaigns, dashboard, decisions, keys
from api.schemas import SENT
from api.service.context import ServiceContext
from api.settings import Settings, get_settings
from templates_store import db
from templates_store.db import make_engine

DESCRIPTION = """Learns which payment reminder (template x channel) to send per debtor segment,
with Thompson sampling that knows about delayed payments, drift, costs, cold start and the
contact rules. Authenticate with `Authorization: Bearer <api key>`."""


class HealthOut(BaseModel):
    model_config = SENT
    status: Literal["ok"]
    database: str = Field(examples=["sqlite", "postgresql"])


class LimitBody:
    """413 for a body over ``limit`` bytes: at once from Content-Length; a body without one
    (chunked) is read up to the limit first, then handed on."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"the request body is larger than {self.limit:,} bytes"
        body = errors.error_body("too_large", message)
        await JSONResponse(body, status_code=413)(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.limit:
                await self._too_large(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._too_large(scope, receive, send)
                return
            more = message.get("more_body", False)
        buffered: Message | None = {"type": "http.request", "body": b"".join(chunks)}

        async def replay() -> Message:
            nonlocal buffered
            if buffered is None:
                return await receive()
            message, buffered = buffered, None
            return message

        await self.app(scope, replay, send)


# The cyclic garbage collector's first generation runs every 700 net allocations by default;
# a 10,000-item batch allocates millions, and the older generations' passes over every live
# object (numpy, scipy, SQLAlchemy, pydantic: ~10^6 of them) cost a third of its time. The
# service makes little cyclic garbage: collect young objects every 50,000 allocations.
GC_THRESHOLDS = (50_000, 20, 10)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    gc.set_threshold(*GC_THRESHOLDS)
    engine = make_engine(
        settings.resolved_database_url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
    )
    app = FastAPI(
        title="dunning-bandit",
        version="0.1.0",
        description=DESCRIPTION,
        responses=errors.ERROR_RESPONSES,  # documented on every operation (not FastAPI's 422)
        generate_unique_id_function=openapi_doc.short_ids,
        openapi_tags=openapi_doc.TAGS,
        servers=openapi_doc.SERVERS,
        docs_url=None,  # openapi_doc.install_docs: Swagger UI without a CDN
        redoc_url=None,
    )
    app.state.context = ServiceContext.create(engine, settings)
    errors.install(app)

    app.add_middleware(metrics.RecordMetrics)
    app.add_middleware(LimitBody, limit=settings.max_body_bytes)  # outermost: before metrics

    @app.get("/healthz", tags=["service"], operation_id="healthz")
    def healthz() -> HealthOut:
        """Liveness, and whether the database answers (no key needed)."""
        db.ping(engine)
        return HealthOut(status="ok", database=engine.dialect.name)

    @app.get(
        "/metrics",
        tags=["service"],
        operation_id="metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def prometheus() -> Response:
        """Prometheus text format (this process's counters; no key needed)."""
        return metrics.exposition()

    app.include_router(campaigns.router)
    app.include_router(decisions.router)
    app.include_router(dashboard.router)
    app.include_router(keys.router)
    openapi_doc.install_docs(app)
    app.openapi = openapi_doc.documented(app)  # type: ignore[method-assign]
    return app
