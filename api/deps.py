"""FastAPI dependencies: the database session and the service context."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from api.service.context import ServiceContext


def get_context(request: Request) -> ServiceContext:
    context: ServiceContext = request.app.state.context
    return context


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; committed by the service, rolled back on error.

    On SQLite (one writer at a time; every transaction begins IMMEDIATE) the requests of this
    process take turns on a lock instead of sleeping in SQLite's busy handler, whose backoff
    of up to 100 ms made the tail latency of concurrent requests.
    """
    context: ServiceContext = request.app.state.context
    turn = context.sqlite_turn if context.engine.dialect.name == "sqlite" else nullcontext()
    with turn, Session(context.engine, expire_on_commit=False) as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise


SessionDep = Annotated[Session, Depends(get_session)]
ContextDep = Annotated[ServiceContext, Depends(get_context)]
