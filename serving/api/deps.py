"""``Annotated`` dependencies of the routes.

They are ``async def`` on purpose: they do no I/O, and FastAPI runs a plain ``def`` dependency
in the thread pool, which would cost a thread hop per request for nothing.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from serving.model_manager import ServedModel
from serving.state import AppState

_bearer = HTTPBearer(
    auto_error=False,
    description="The service's token (NOWREC_API_TOKEN): 'Authorization: Bearer <token>'.",
)


async def get_state(request: Request) -> AppState:
    return request.app.state.nowrec


StateDep = Annotated[AppState, Depends(get_state)]


async def get_served(state: StateDep) -> ServedModel:
    """The model serving now, read once so the whole request uses one version."""
    return state.models.current  # NoModelError (503) while waiting for the first bundle


ServedDep = Annotated[ServedModel, Depends(get_served)]


async def require_token(
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse write and admin calls without the bearer token (401) or with another (403).

    Without a configured token (development mode only) the calls are open.
    """
    token = state.settings.api_token
    if token is None:
        return
    if credentials is None:
        raise HTTPException(
            401,
            "missing bearer token: send 'Authorization: Bearer <token>' (NOWREC_API_TOKEN)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(credentials.credentials.encode(), token.get_secret_value().encode()):
        raise HTTPException(403, "invalid bearer token")


Authorized = Depends(require_token)
