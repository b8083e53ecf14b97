"""The `dunning-bandit` command line."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
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


@keys_app.command("create")
def create_key(
    role: str = typer.Option(..., "--role", help="admin, manager, sender or analyst"),
) -> None:
    """Create an API key and print it once."""
    from templates_store import keys

    url = get_settings().resolved_database_url
    upgrade(url)
    with Session(make_engine(url)) as session:
        try:
            _, secret = keys.create_key(session, role=role, now=datetime.now(UTC))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--role") from exc
        session.commit()
    typer.echo(secret)


def ensure_admin_key(url: str) -> str | None:
    """Create an admin key if none exists; return it (None when one existed)."""
    from templates_store import keys

    with Session(make_engine(url)) as session:
        if keys.count_keys(session, role="admin") > 0:
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
