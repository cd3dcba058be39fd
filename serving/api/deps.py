"""``Annotated`` dependencies of the routes.

They are ``async def`` on purpose: they do no I/O, and FastAPI runs a plain ``def`` dependency
in the thread pool, which would cost a thread hop per request for nothing.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

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


def _check_bearer(
    credentials: HTTPAuthorizationCredentials | None, tokens: list[SecretStr], names: str
) -> None:
    if credentials is None:
        raise HTTPException(
            401,
            f"missing bearer token: send 'Authorization: Bearer <token>' ({names})",
            headers={"WWW-Authenticate": "Bearer"},
        )
    offered = credentials.credentials.encode()
    # every token compared, in constant time
    if not sum(hmac.compare_digest(offered, t.get_secret_value().encode()) for t in tokens):
        raise HTTPException(403, "invalid bearer token")


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def require_token(state: StateDep, credentials: Credentials) -> None:
    """Refuse write and admin calls without the bearer token (401) or with another (403).

    Without a configured token (development mode only) the calls are open.
    """
    token = state.settings.api_token
    if token is not None:
        _check_bearer(credentials, [token], "NOWREC_API_TOKEN")


async def require_events_token(state: StateDep, credentials: Credentials) -> None:
    """POST /v1/events: the API token, or the public browser token of the product-page
    script (``browser_token``: events only). Open without an API token, like every write."""
    s = state.settings
    if s.api_token is not None:
        tokens = [t for t in (s.api_token, s.browser_token) if t is not None]
        _check_bearer(credentials, tokens, "NOWREC_API_TOKEN, or NOWREC_BROWSER_TOKEN in a page")


Authorized = Depends(require_token)
EventsAuthorized = Depends(require_events_token)
