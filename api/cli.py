"""The `dunning-bandit` command line."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from api.service.campaigns import CampaignConfig
from api.service.evidence import Clock
from api.settings import get_settings
from simulations import cli as simulations_cli
from templates_store.db import make_engine
from templates_store.migrate import upgrade

app = typer.Typer(
    help="dunning-bandit: learn which payment reminder to send.", no_args_is_help=True
)
keys_app = typer.Typer(help="API keys (shown once, stored as hashes).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.command()(simulations_cli.simulate)
app.command()(simulations_cli.replay)


@app.command()
def version() -> None:
    """Print the installed version."""
    typer.echo(package_version("dunning-bandit"))


@app.command()
def migrate() -> None:
    """Bring the database (DUNNING_DATABASE_URL, else the SQLite file) to the latest schema."""
    url = get_settings().resolved_database_url
    upgrade(url)
    typer.echo(f"database at {_safe(url)} is up to date")


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _where(url: str) -> str:
    """Which database, and how a server is pointed at the same one."""
    return (
        f"database {_safe(url)} (a server started with the same DUNNING_DATABASE_URL, "
        "else DUNNING_SQLITE_PATH, uses it)"
    )


def _campaign_list(campaigns: list[str] | None) -> str:
    return "every campaign" if campaigns is None else "campaigns " + ", ".join(campaigns)


@keys_app.command("create")
def create_key(
    role: str = typer.Option(..., "--role", help="admin, manager, sender or analyst"),
    campaigns: str | None = typer.Option(
        None, "--campaigns", help="comma-separated campaign keys the key may see (default: all)"
    ),
) -> None:
    """Create an API key and print it once (stdout); where it was stored goes to stderr."""
    from pydantic import ValidationError

    from api.errors import ApiError
    from api.schemas import KeyCreate
    from api.service import keys as key_service
    from api.service.access import SERVICE
    from templates_store.models import ROLES

    if role not in ROLES:
        raise typer.BadParameter(
            f"role must be one of {', '.join(ROLES)}, got {role!r}", param_hint="--role"
        )
    names = None if campaigns is None else [c.strip() for c in campaigns.split(",") if c.strip()]
    try:
        body = KeyCreate.model_validate({"role": role, "campaigns": names})
    except ValidationError as exc:
        message = "; ".join(str(e["msg"]) for e in exc.errors())
        raise typer.BadParameter(message, param_hint="--campaigns") from exc
    url = get_settings().resolved_database_url
    upgrade(url)
    with Session(make_engine(url)) as session:
        try:
            made = key_service.create(session, SERVICE, body, datetime.now(UTC))
        except ApiError as exc:
            raise typer.BadParameter(exc.message, param_hint="--campaigns") from exc
    typer.echo(made.key)
    typer.echo(
        f"created {made.role} key {made.prefix} for {_campaign_list(made.campaigns)} "
        f"in {_where(url)}",
        err=True,
    )


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@keys_app.command("list")
def list_keys() -> None:
    """The live keys: prefix, role, scope, created, last used (never a key or its hash)."""
    from api.service import keys as key_service
    from api.service.access import SERVICE

    url = get_settings().resolved_database_url
    upgrade(url)
    with Session(make_engine(url)) as session:
        rows = key_service.list_all(session, SERVICE)
    typer.echo(f"{'prefix':<13} {'role':<8} {'created':<20}  {'last used':<20}  campaigns")
    for row in rows:
        scope = "*" if row.campaigns is None else ",".join(row.campaigns)
        created, used = _when(row.created_at), _when(row.last_used_at)
        typer.echo(f"{row.prefix:<13} {row.role:<8} {created:<20}  {used:<20}  {scope}")
    typer.echo(f"{len(rows)} live keys in {_where(url)}", err=True)


@keys_app.command("revoke")
def revoke_key(
    prefix: str = typer.Argument(..., help="the key's prefix, e.g. dbk_Xy3kP0aQ"),
) -> None:
    """Revoke a key; servers refuse it within DUNNING_KEY_CACHE_SECONDS (5 s)."""
    from api.errors import ApiError
    from api.service import keys as key_service
    from api.service.access import SERVICE

    settings = get_settings()
    url = settings.resolved_database_url
    upgrade(url)
    with Session(make_engine(url)) as session:
        try:
            gone = key_service.revoke(session, SERVICE, prefix, datetime.now(UTC))
        except ApiError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(1) from exc
    typer.echo(
        f"revoked {gone.role} key {gone.prefix} ({_campaign_list(gone.campaigns)}) in "
        f"{_where(url)}; servers refuse it within {settings.key_cache_seconds:g} s"
    )


def ensure_admin_key(url: str) -> str | None:
    """Create an admin key if no unscoped one exists; return it (None when one existed)."""
    from templates_store import keys

    with Session(make_engine(url)) as session:
        if keys.lock_unscoped_admins(session):
            return None
        _, secret = keys.create_key(session, role="admin", now=datetime.now(UTC))
        session.commit()
        return secret


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to listen on"),
    port: int = typer.Option(8000, help="TCP port"),
    workers: int = typer.Option(1, min=1, help="worker processes"),
) -> None:
    """Run the HTTP API (SQLite by default; DUNNING_DATABASE_URL for PostgreSQL)."""
    import uvicorn

    settings = get_settings()
    url = settings.resolved_database_url
    upgrade(url)
    secret = ensure_admin_key(url)
    if secret is not None:
        typer.echo(f"first start: admin API key (shown once, keep it): {secret}")
    typer.echo(f"serving on http://{host}:{port} (docs at /docs), database {_safe(url)}")
    with _shared_metrics(workers):
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level,
            http="api.protocol:NoDelayHttpToolsProtocol",  # no Nagle delay (see there)
        )


@contextmanager
def _shared_metrics(workers: int) -> Iterator[None]:
    """With several workers, a fresh directory where their metrics meet (api.metrics),
    unless PROMETHEUS_MULTIPROC_DIR names one already; removed afterwards."""
    from api.metrics import MULTIPROCESS_DIR

    if workers == 1 or os.environ.get(MULTIPROCESS_DIR):
        yield
        return
    folder = tempfile.mkdtemp(prefix="dunning-metrics-")
    os.environ[MULTIPROCESS_DIR] = folder
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_DIR]
        shutil.rmtree(folder, ignore_errors=True)


def _weight(clock: Clock, cfg: CampaignConfig, day: int) -> float:
    return clock.day_weight(day, cfg)


class DemoScenario(StrEnum):
    """The demo's simulated debtors (``api.demo.SCENARIOS``)."""

    baseline = "baseline"
    send_time = "send-time"


@app.command()
def demo(
    serve_after: bool = typer.Option(True, "--serve/--no-serve", help="keep serving the dashboard"),
    out: Annotated[Path, typer.Option(help="where to write the dashboard as one file")] = Path(
        "dashboard.html"
    ),
    database: Annotated[
        Path, typer.Option("--db", help="the demo's SQLite file (recreated)")
    ] = Path("dunning-demo.db"),
    days: int = typer.Option(21, min=1, max=365, help="simulated days"),
    daily: int = typer.Option(400, min=1, max=10_000, help="debtors per day"),
    seed: int = typer.Option(7, help="random seed"),
    scenario: Annotated[
        DemoScenario,
        typer.Option(help="the simulated debtors: baseline, or send-time (with send slots)"),
    ] = DemoScenario.baseline,
    host: str = typer.Option("127.0.0.1", help="interface to serve on"),
    port: int = typer.Option(8000, help="TCP port to serve on"),
) -> None:
    """A demo campaign (6 templates, 11 arms, email/SMS/letter/voice, en/de/da/zh) learning from
    simulated debtors through the real service; writes the dashboard and serves it."""
    import time

    from rich.progress import Progress

    from api import demo as demo_run

    started = time.perf_counter()
    with Progress() as progress:
        task = progress.add_task("simulated days", total=days)
        result = demo_run.run(
            database,
            days=days,
            daily=daily,
            seed=seed,
            dashboard=out,
            progress=lambda done, total: progress.update(task, completed=done),
            scenario=scenario.value,
        )
    seconds = time.perf_counter() - started
    typer.echo(
        f"{result.decisions:,} decisions and {result.events:,} events in {seconds:.1f} s "
        f"({result.pending:,} outcomes still to come); database {result.database}"
    )
    typer.echo(f"dashboard written to {out.resolve()}")
    typer.echo(f"admin key: {result.admin_key}")
    if not serve_after:
        return
    import os

    import uvicorn

    os.environ["DUNNING_SQLITE_PATH"] = str(database)
    os.environ.pop("DUNNING_DATABASE_URL", None)
    get_settings.cache_clear()
    typer.echo(
        f"dashboard: http://{host}:{port}/v1/campaigns/{demo_run.CAMPAIGN}/dashboard#key={result.keys['analyst']}"
    )
    typer.echo(f"API docs:  http://{host}:{port}/docs   (Ctrl-C stops)")
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, log_level="warning")


@app.command("rebuild-stats")
def rebuild_stats(
    campaign: str | None = typer.Option(None, help="one campaign's key; all when omitted"),
) -> None:
    """Recompute every statistic from the decision and event log."""
    from api.service import campaigns as campaign_service
    from templates_store import catalog, statistics

    url = get_settings().resolved_database_url
    upgrade(url)
    with Session(make_engine(url)) as session:
        rows = (
            catalog.list_campaigns(session)
            if campaign is None
            else [campaign_service.load(session, campaign)]
        )
        now = datetime.now(UTC)
        for row in rows:
            cfg = campaign_service.config(row)
            clock = Clock.at(now, cfg)
            n = statistics.rebuild_statistics(
                session, campaign_id=cfg.id, weight=partial(_weight, clock, cfg)
            )
            session.commit()
            typer.echo(f"{row.key}: rebuilt statistics from {n:,} decisions")


if __name__ == "__main__":
    app()
