"""Who may open the console, and who may post events from a browser.

The console is read-only and opened in a browser, where a bearer header cannot be typed: the
login page posts a token once, and the answer sets an HttpOnly cookie that the console's pages
and calls carry. The cookie holds an HMAC of the token, not the token: a copied cookie opens
the console (read-only) and nothing else, even when it was made from the admin token.

Tokens (serving/settings.py): ``api_token`` (everything) and ``console_token`` (the console
only); the public ``browser_token`` of the page script is checked by POST /v1/events
(serving/api/deps.py). Without ``api_token`` nor ``console_token`` (development mode) the console
is open, like the admin routes.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from pydantic import SecretStr

from serving.settings import Settings

COOKIE = "nowrec_console"
#: How long a console login lasts (seconds); then the login page asks again.
COOKIE_MAX_AGE_S = 12 * 3600
_COOKIE_CONTEXT = b"nowrec console cookie v1"


def _secret(token: SecretStr | None) -> bytes | None:
    return token.get_secret_value().encode() if token is not None else None


def console_tokens(settings: Settings) -> list[bytes]:
    """The tokens that open the console (none: it is open)."""
    return [t for t in (_secret(settings.api_token), _secret(settings.console_token)) if t]


def cookie_value(token: bytes) -> str:
    return hmac.new(token, _COOKIE_CONTEXT, hashlib.sha256).hexdigest()


def _bearer(request: Request) -> bytes | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip().encode() if scheme.lower() == "bearer" and value.strip() else None


def matching_token(settings: Settings, offered: bytes) -> bytes | None:
    """The console token ``offered`` is (compared in constant time), or None."""
    found = None
    for token in console_tokens(settings):
        if hmac.compare_digest(offered, token):
            found = token
    return found


def console_allowed(request: Request) -> bool:
    """Whether the request may see the console: no token configured, a console token as a
    bearer header, or the login cookie."""
    settings: Settings = request.app.state.settings
    tokens = console_tokens(settings)
    if not tokens:
        return True
    bearer = _bearer(request)
    if bearer is not None and matching_token(settings, bearer) is not None:
        return True
    cookie = request.cookies.get(COOKIE, "").encode()
    return any(hmac.compare_digest(cookie, cookie_value(t).encode()) for t in tokens)


async def require_console(request: Request) -> None:
    """401 for the console's data calls without a token or the login cookie."""
    if not console_allowed(request):
        raise HTTPException(
            401,
            "the console needs a token: log in at /console (NOWREC_API_TOKEN or "
            "NOWREC_CONSOLE_TOKEN), or send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


ConsoleAuthorized = Depends(require_console)


ConsoleDep = Annotated[None, ConsoleAuthorized]
