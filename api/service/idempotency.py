"""Decide requests with an ``Idempotency-Key``: the first answer is stored with its
decisions; a retry with the same key and the same body gets that answer again (no new
decisions, nothing counted twice); the same key with another body is a 409. Keys are kept
for DUNNING_IDEMPOTENCY_HOURS (default 24), per campaign."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlmodel import Session

from api.errors import ApiError
from api.schemas import DecideIn, DecideOut
from api.service import decisions
from api.service.context import ServiceContext
from templates_store import idempotency


@dataclass(frozen=True)
class Answer:
    """The JSON text of the answer, and whether it is a stored one (a replay)."""

    body: str
    replayed: bool


def fingerprint(body: BaseModel) -> str:
    """The request body's identity: the same fields and values give the same hash."""
    return hashlib.sha256(body.model_dump_json().encode("utf-8")).hexdigest()


def decide_once(
    session: Session,
    ctx: ServiceContext,
    campaign_key: str,
    items: Sequence[DecideIn],
    *,
    batch: bool,
    key: str,
    request_hash: str,
    render: Callable[[list[DecideOut]], str],
) -> Answer:
    """``decisions.decide`` under ``key``: the stored answer when the key was used before."""
    cfg = ctx.catalog.campaign(session, campaign_key).config
    now = datetime.now(UTC)
    keep = timedelta(hours=ctx.settings.idempotency_hours)
    stored = idempotency.claim(
        session,
        campaign_id=cfg.id,
        key=key,
        request_hash=request_hash,
        now=now,
        expired_before=now - keep,
    )
    if stored is not None:
        session.commit()  # the expiry above
        if stored.request_hash != request_hash:
            raise ApiError(
                409,
                "idempotency_key_reused",
                f"Idempotency-Key {key!r} was used for a different request body in the last "
                f"{ctx.settings.idempotency_hours:g} hours; use a new key for a new request",
            )
        return Answer(stored.response, replayed=True)

    def store(body: bytes) -> None:
        response = body.decode("utf-8")
        idempotency.complete(session, campaign_id=cfg.id, key=key, status=200, response=response)

    body = decisions.decide(
        session, ctx, campaign_key, items, batch=batch, render=render, before_commit=store
    )
    return Answer(body.decode("utf-8"), replayed=False)
