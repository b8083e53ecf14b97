"""The FastAPI application."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api import errors, metrics
from api.routes import campaigns, decisions
from api.service.context import ServiceContext
from api.settings import Settings, get_settings
from templates_store.db import make_engine

DESCRIPTION = """Learns which payment reminder (template x channel) to send per debtor segment,
with Thompson sampling that knows about delayed payments, drift, costs, cold start and the
contact rules. Authenticate with `Authorization: Bearer <api key>`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings.resolved_database_url)
    app = FastAPI(title="dunning-bandit", version="0.1.0", description=DESCRIPTION)
    app.state.context = ServiceContext.create(engine, settings)
    errors.install(app)

    @app.middleware("http")
    async def limit_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length")
        limit = settings.max_body_bytes
        if length is not None and (not length.isdigit() or int(length) > limit):
            body = errors.error_body(
                "too_large", f"the request body is larger than {limit:,} bytes"
            )
            return JSONResponse(body, status_code=413)
        return await metrics.record(request, call_next)

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        """Liveness, and whether the database answers."""
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "database": engine.dialect.name}

    @app.get("/metrics", tags=["service"], response_class=Response)
    def prometheus() -> Response:
        """Prometheus text format (this process's counters)."""
        return metrics.exposition()

    app.include_router(campaigns.router)
    app.include_router(decisions.router)
    return app
