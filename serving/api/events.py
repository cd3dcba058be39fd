"""POST /v1/events: a batch of shopper events into the session store or Kafka."""

from __future__ import annotations

import time
from collections.abc import Sequence

from fastapi import APIRouter, HTTPException, Response
from fastapi.exceptions import RequestValidationError

from serving.api.deps import EventsAuthorized, StateDep
from serving.api.errors import error_responses
from serving.api.schemas import EventsIn, EventsOut
from serving.errors import BrokerUnavailableError, StoreUnavailableError
from serving.events import ViewEvent, ahead_of

router = APIRouter(prefix="/v1", tags=["events"])

_RETRY = {"Retry-After": "1"}


def refuse_future_events(events: Sequence[ViewEvent], max_ahead_s: float) -> None:
    """422 for a batch holding events stamped after the server's clock (beyond the margin):
    the sender's clock is wrong, and only the sender can fix it."""
    now = time.time()
    late = ahead_of(events, now, max_ahead_s)
    if late:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("body", "events", i, "ts"),
                    "msg": f"{events[i].ts!r} is {events[i].ts - now:.0f} s after this server's "
                    f"clock ({now:.0f}); events more than {max_ahead_s:g} s in the future are "
                    "refused: check the sending device's clock, or stamp events on your server",
                    "input": events[i].ts,
                }
                for i in late
            ]
        )


@router.post(
    "/events",
    response_model=EventsOut,
    dependencies=[EventsAuthorized],
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
    refuse_future_events(body.events, state.settings.max_event_ahead_s)
    if state.settings.events_mode == "kafka":
        try:
            sent = state.producer().send(body.events)
        except BrokerUnavailableError as exc:
            raise HTTPException(503, str(exc), headers=_RETRY) from None
        response.status_code = 202
        state.loop.outcomes(body.events)
        return EventsOut(mode="kafka", accepted=sent)
    try:
        result = state.store.append(body.events)
    except StoreUnavailableError as exc:
        raise HTTPException(
            503, f"{exc}; retry the request (events are idempotent)", headers=_RETRY
        ) from None
    state.loop.outcomes(body.events)
    metrics = state.live_metrics
    metrics.events_applied.labels("http").inc(result.applied)
    metrics.events_duplicate.labels("http").inc(result.duplicates)
    return EventsOut(
        mode="embedded",
        accepted=len(body.events),
        applied=result.applied,
        duplicates=result.duplicates,
    )
