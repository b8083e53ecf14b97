"""Decision, event and analysis routes: thin, over api.service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from fastapi.responses import StreamingResponse

from api.auth import require
from api.deps import ContextDep, SessionDep
from api.errors import ApiError
from api.schemas import (
    NO_NUL,
    ArmsOut,
    AuditOut,
    DecideBatchIn,
    DecideBatchOut,
    DecideIn,
    DecideOut,
    EventBatchIn,
    EventBatchOut,
    EventIn,
    EventOut,
)
from api.schemas.decisions import BatchItemError
from api.service import analysis, batch_items, decisions, events, export, idempotency
from api.service.access import Caller
from api.text_route import TextRoute

router = APIRouter(route_class=TextRoute)
CampaignKey = Annotated[str, Path(max_length=100, pattern=NO_NUL, description="the campaign's key")]
Sender = Depends(require("sender"))
SenderCaller = Annotated[Caller, Sender]
Analyst = Depends(require("analyst"))


def check_batch_size(count: int, limit: int, what: str) -> None:
    """413 for a batch over the configured size."""
    if count > limit:
        message = f"a batch holds at most {limit:,} {what}, got {count:,}; split it"
        raise ApiError(413, "batch_too_large", message)


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[!-~]+$",
        description="optional: a retry with the same key and body gets the first answer again "
        "(no new decisions); kept DUNNING_IDEMPOTENCY_HOURS (24) per campaign",
    ),
]
REPLAYED = {
    "Idempotent-Replayed": {
        "description": "with an Idempotency-Key: true when this is the stored first answer",
        "schema": {"type": "string", "enum": ["true", "false"]},
    }
}


def _json(body: str | bytes, headers: dict[str, str] | None = None) -> Response:
    """An answer serialised by its own model: FastAPI would validate the model it was built
    from again before serialising it (0.1 ms for one decision, more than the draw)."""
    return Response(body, media_type="application/json", headers=headers)


def _one_answer(answers: list[DecideOut]) -> str:
    return answers[0].model_dump_json()


def _batch_answer(answers: list[DecideOut | BatchItemError]) -> str:
    return DecideBatchOut(results=answers).model_dump_json()


def _answer(answer: idempotency.Answer) -> Response:
    return _json(answer.body, {"Idempotent-Replayed": "true" if answer.replayed else "false"})


@router.post(
    "/v1/campaigns/{campaign}/decisions",
    dependencies=[Sender],
    response_model=DecideOut,
    responses={200: {"headers": REPLAYED}},
    tags=["decisions"],
    operation_id="decide",
)
def decide(
    campaign: CampaignKey,
    body: DecideIn,
    session: SessionDep,
    ctx: ContextDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The next message for one debtor, or no-send with every reason (sender)."""
    if idempotency_key is None:
        return _json(
            decisions.decide(session, ctx, campaign, [body], batch=False, render=_one_answer)
        )
    return _answer(
        idempotency.decide_once(
            session,
            ctx,
            campaign,
            [body],
            batch=False,
            key=idempotency_key,
            request_hash=idempotency.fingerprint(body),
            render=_one_answer,
        )
    )


@router.post(
    "/v1/campaigns/{campaign}/decisions/batch",
    dependencies=[Sender],
    response_model=DecideBatchOut,
    responses={200: {"headers": REPLAYED}},
    openapi_extra={"x-item-errors": "items"},  # api.text_route: per item
    tags=["decisions"],
    operation_id="decide_batch",
)
def decide_batch(
    campaign: CampaignKey,
    body: DecideBatchIn,
    session: SessionDep,
    ctx: ContextDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The same for up to 10,000 debtors in one vectorised pass; results in order (sender).
    An item with a fault of its own (not valid, an unknown time zone, a time out of range,
    attributes that make no segment, a debtor already in the batch) is answered with its
    error in its place; the others are decided."""
    check_batch_size(len(body.items), ctx.settings.max_batch, "items")
    screened = batch_items.screen(session, ctx, campaign, body.items)

    def render(answers: list[DecideOut]) -> str:
        return _batch_answer(screened.merge(answers))

    if not screened.items:  # nothing to decide: every item has its error
        return _json(render([]))
    if idempotency_key is None:
        return _json(
            decisions.decide(session, ctx, campaign, screened.items, batch=True, render=render)
        )
    return _answer(
        idempotency.decide_once(
            session,
            ctx,
            campaign,
            screened.items,
            batch=True,
            key=idempotency_key,
            request_hash=idempotency.fingerprint(body),
            render=render,
        )
    )


@router.get("/v1/decisions/{decision_id}", tags=["decisions"], operation_id="get_audit")
def read_decision(
    decision_id: Annotated[str, Path(max_length=64, pattern=NO_NUL)],
    session: SessionDep,
    caller: Annotated[Caller, Depends(require("analyst", "sender"))],
) -> AuditOut:
    """The audit record of one decision (analyst, sender)."""
    return AuditOut.model_validate(analysis.audit(session, decision_id, caller))


@router.post("/v1/events", status_code=202, tags=["events"], operation_id="record_event")
def report_event(
    body: EventIn, session: SessionDep, ctx: ContextDep, caller: SenderCaller
) -> EventOut:
    """Report an open, click, pay or opt-out; idempotent on event_id within its campaign
    (sender)."""
    return events.record_one(session, ctx.catalog, body, caller)


@router.post("/v1/events/batch", status_code=202, tags=["events"], operation_id="record_events")
def report_events(
    body: EventBatchIn, session: SessionDep, ctx: ContextDep, caller: SenderCaller
) -> EventBatchOut:
    """Many events; each succeeds or fails on its own (sender)."""
    check_batch_size(len(body.events), ctx.settings.max_batch, "events")
    return EventBatchOut(results=events.record_batch(session, ctx.catalog, body.events, caller))


@router.get(
    "/v1/campaigns/{campaign}/arms",
    dependencies=[Analyst],
    tags=["analysis"],
    operation_id="get_arms",
)
def arm_statistics(
    campaign: CampaignKey,
    session: SessionDep,
    ctx: ContextDep,
    segment: Annotated[str | None, Query(max_length=300, pattern=NO_NUL)] = None,
) -> ArmsOut:
    """Per arm: counts, posterior mean and 95% interval, P(best), expected loss, allocation (analyst)."""
    return analysis.arms(session, ctx, campaign, segment)


@router.get(
    "/v1/campaigns/{campaign}/decisions/export",
    dependencies=[Analyst],
    tags=["analysis"],
    operation_id="export_decisions",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "the decision log as CSV",
        }
    },
)
def export_decisions(
    campaign: CampaignKey, session: SessionDep, ctx: ContextDep
) -> StreamingResponse:
    """The decision log as CSV, in the replay format (analyst)."""
    analysis.check_campaign(session, campaign)
    session.commit()  # end this transaction: the stream reads on its own connection
    headers = {"content-disposition": f'attachment; filename="{campaign}-decisions.csv"'}
    return StreamingResponse(
        export.export_csv(ctx, campaign), media_type="text/csv", headers=headers
    )
