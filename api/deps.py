"""FastAPI dependencies: the database session and the service context.

Both are ``async``: FastAPI runs them on the event loop instead of handing each to the thread
pool (a hop between threads costs more than the work they do); only the route itself, which
talks to the database, runs in a worker thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api.service.context import ServiceContext


async def get_context(request: Request) -> ServiceContext:
    context: ServiceContext = request.app.state.context
    return context


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; committed by the service, rolled back on error.

    On SQLite (one writer at a time; every transaction begins IMMEDIATE) the requests of this
    process take turns on a lock instead of sleeping in SQLite's busy handler, whose backoff
    of up to 100 ms made the tail latency of concurrent requests. Waiting for the turn blocks
    neither the event loop nor a worker thread.
    """
    context: ServiceContext = request.app.state.context
    sqlite = context.engine.dialect.name == "sqlite"
    if sqlite:
        await context.sqlite_turn.acquire()
    try:
        session = Session(context.engine, expire_on_commit=False)
        try:
            yield session
        except BaseException:
            await _finish(session.rollback, sqlite)
            raise
        finally:
            await _finish(session.close, sqlite)
    finally:
        if sqlite:
            context.sqlite_turn.release()


async def _finish(step: Callable[[], None], inline: bool) -> None:
    """A session's rollback or close: inline on SQLite (no I/O worth a thread); in a worker
    thread on PostgreSQL (a round trip to the server)."""
    if inline:
        step()
    else:
        await run_in_threadpool(step)


# scope="function": the session closes (and the SQLite turn passes on) when the route returns,
# not after the answer is sent (a slow reader would hold up every request of the process)
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ContextDep = Annotated[ServiceContext, Depends(get_context)]
