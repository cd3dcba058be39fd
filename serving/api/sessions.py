"""DELETE /v1/sessions/{id}: forget a visitor's session (bearer token required)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from serving.api.deps import Authorized, StateDep
from serving.api.errors import error_responses
from serving.api.schemas import SESSION_ID_DOC, ForgetOut, SessionId
from serving.errors import StoreUnavailableError

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], dependencies=[Authorized])


@router.delete(
    "/{session_id}",
    response_model=ForgetOut,
    responses=error_responses(401, 403, 422, 503),
    summary="Forget a session: its events now, its log records in the reports",
)
def forget_session(
    state: StateDep, session_id: Annotated[SessionId, Path(description=SESSION_ID_DOC)]
) -> ForgetOut:
    """What a shop needs for a visitor's request to be forgotten (GDPR): the session's events
    are removed from the session store at once, and a mark is written to the impression log
    so that every experiment report leaves the session out (files older than the retention
    are removed; in BigQuery, delete the marked sessions' rows, see the README)."""
    try:
        found = state.store.forget(session_id)
    except StoreUnavailableError as exc:
        raise HTTPException(
            503, f"{exc}; retry the request", headers={"Retry-After": "1"}
        ) from None
    marked = state.loop.forget(session_id)
    return ForgetOut(session_id=session_id, found=found, log_marked=marked)
