"""POST /v1/events: a batch of shopper events into the session store or Kafka."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from engine.errors import BrokerUnavailableError, StoreUnavailableError
from serving.api.deps import Authorized, StateDep
from serving.api.errors import error_responses
from serving.api.schemas import EventsIn, EventsOut

router = APIRouter(prefix="/v1", tags=["events"])

_RETRY = {"Retry-After": "1"}


@router.post(
    "/events",
    response_model=EventsOut,
    dependencies=[Authorized],
    responses={
        202: {"model": EventsOut, "description": "Produced to Kafka (kafka mode)"},
        **error_responses(400, 401, 403, 413, 422, 503),
    },
    summary="Record shopper events (views, carts...) of live sessions",
)
def post_events(state: StateDep, body: EventsIn, response: Response) -> EventsOut:
    """Embedded mode: the events are in the session store when this returns (the next
    recommendation sees them). Kafka mode: the broker acknowledged them (202); the consumer
    applies them. Either way an event sent twice is applied once, so retrying is safe."""
    limit = state.settings.max_batch_events
    if len(body.events) > limit:
        raise HTTPException(
            413, f"{len(body.events)} events is over the {limit}-event limit; split the batch"
        )
    if state.settings.events_mode == "kafka":
        try:
            sent = state.producer().send(body.events)
        except BrokerUnavailableError as exc:
            raise HTTPException(503, str(exc), headers=_RETRY) from None
        response.status_code = 202
        return EventsOut(mode="kafka", accepted=sent)
    try:
        result = state.store.append(body.events)
    except StoreUnavailableError as exc:
        raise HTTPException(
            503, f"{exc}; retry the request (events are idempotent)", headers=_RETRY
        ) from None
    metrics = state.live_metrics
    metrics.events_applied.labels("http").inc(result.applied)
    metrics.events_duplicate.labels("http").inc(result.duplicates)
    return EventsOut(
        mode="embedded",
        accepted=len(body.events),
        applied=result.applied,
        duplicates=result.duplicates,
    )
