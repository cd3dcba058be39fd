"""The console: ``/console`` and the calls its pages make (``/console/api/...``).

Everything here is read-only, except the try-out's events (``POST /console/api/events``), which
only reach sessions named ``console-...``: what an operator clicks through in the console is
marked as such in the session store, the logs and any export (filter on the prefix), and is
served outside any experiment (serving/closed_loop.py), so it never counts in a report.
The pages are static files of this package (serving/console/static/); the data comes from the
served bundle (its manifest and projection, cached per version) and this process's metrics.
"""

from __future__ import annotations

import gzip
import threading
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from engine.bundle import Bundle
from engine.bundle_overview import json_safe, model_overview
from engine.errors import DataError
from engine.projection import map_payload, read_projection
from serving.api.deps import StateDep
from serving.api.events import post_events
from serving.api.schemas import EventsIn, EventsOut
from serving.closed_loop import CONSOLE_SESSION_PREFIX
from serving.console.auth import (
    COOKIE,
    COOKIE_MAX_AGE_S,
    ConsoleAuthorized,
    console_allowed,
    console_tokens,
    cookie_value,
    matching_token,
)
from serving.console.files import STATIC, file_response, listing
from serving.console.live import live_figures
from serving.model_manager import ServedModel

#: Session ids of the try-out start with this (the only sessions the console may write).
TRY_PREFIX = CONSOLE_SESSION_PREFIX
#: The console's pages load and call this service only: a browser refuses anything else.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
#: Event types the try-out sends.
TRY_EVENTS = frozenset({"view", "click"})


class LoginIn(BaseModel):
    token: str = Field(min_length=1, max_length=512)


class BundleViews:
    """The overview and the map of the served version, built once per version (the map of a
    large catalogue is a few MB of JSON; it is gzipped once and sent as is)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: str | None = None
        self._views: dict[str, bytes] = {}

    def get(self, served: ServedModel, name: str) -> bytes:
        key = f"{served.version}:{served.bundle_dir}"
        with self._lock:
            if self._key != key:
                self._key, self._views = key, {}
            cached = self._views.get(name)
        if cached is not None:
            return cached
        body = gzip.compress(orjson.dumps(self._build(served, name)), compresslevel=6)
        with self._lock:
            if self._key == key:
                self._views[name] = body
        return body

    @staticmethod
    def _build(served: ServedModel, name: str) -> dict[str, Any]:
        bundle = Bundle.load(served.bundle_dir, verify=False)  # verified when it was loaded
        if name == "overview":
            return model_overview(bundle.manifest)
        shape = bundle.json("model").get("shape") or {}
        n_rows = served.model.catalog.n_trained + int(shape.get("cold_items", 0))
        return map_payload(served.model, read_projection(bundle, n_rows))


def _gzipped_json(request: Request, body: bytes) -> Response:
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(
            body,
            media_type="application/json",
            headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
        )
    return Response(gzip.decompress(body), media_type="application/json")


def console_router() -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    static = listing(STATIC)
    views = BundleViews()

    @router.get("")
    async def console(request: Request) -> FileResponse:
        """The console, or the login page (401) without a token."""
        allowed = console_allowed(request)
        page = file_response(static, "index.html" if allowed else "login.html", max_age_s=0)
        page.status_code = 200 if allowed else 401
        page.headers["Content-Security-Policy"] = PAGE_POLICY
        return page

    @router.post("/login", status_code=204)
    async def login(request: Request, body: LoginIn) -> Response:
        settings = request.app.state.settings
        if not console_tokens(settings):
            return Response(status_code=204)  # open console: nothing to log in to
        token = matching_token(settings, body.token.encode())
        if token is None:
            raise HTTPException(
                403, "not a console token (NOWREC_API_TOKEN or NOWREC_CONSOLE_TOKEN)"
            )
        response = Response(status_code=204)
        response.set_cookie(
            COOKIE,
            cookie_value(token),
            max_age=COOKIE_MAX_AGE_S,
            path="/console",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post("/logout", status_code=204)
    async def logout() -> Response:
        response = Response(status_code=204)
        response.delete_cookie(COOKIE, path="/console")
        return response

    @router.get("/static/{name}")
    async def static_file(name: str) -> FileResponse:
        return file_response(static, name)

    @router.get("/api/overview", dependencies=[ConsoleAuthorized])
    def overview(request: Request, state: StateDep) -> Response:
        return _gzipped_json(request, views.get(state.models.current, "overview"))

    @router.get("/api/projection", dependencies=[ConsoleAuthorized])
    def projection(request: Request, state: StateDep) -> Response:
        return _gzipped_json(request, views.get(state.models.current, "map"))

    @router.get("/api/live", dependencies=[ConsoleAuthorized])
    def live(state: StateDep) -> JSONResponse:
        return JSONResponse(json_safe(live_figures(state)))

    @router.get("/api/experiments", dependencies=[ConsoleAuthorized])
    def experiments(state: StateDep) -> JSONResponse:
        """The experiments file as served, and each declared experiment's report (or why
        there is none yet)."""
        described = state.loop.experiments.describe()
        reports: dict[str, Any] = {}
        for experiment in state.loop.experiments.config.experiments:
            try:
                reports[experiment.name] = {"report": state.loop.report(experiment)}
            except DataError as exc:
                reports[experiment.name] = {"error": str(exc)}
        return JSONResponse(json_safe({**described, "reports": reports}))

    @router.post("/api/events", response_model=EventsOut, dependencies=[ConsoleAuthorized])
    def try_events(state: StateDep, body: EventsIn, response: Response) -> EventsOut:
        """The try-out's views and clicks, through POST /v1/events' own path."""
        for e in body.events:
            if not e.session_id.startswith(TRY_PREFIX) or e.event_type not in TRY_EVENTS:
                raise HTTPException(
                    422,
                    f"the console sends views and clicks of its own sessions only (ids "
                    f"starting with {TRY_PREFIX!r}); got a {e.event_type} of {e.session_id!r}",
                )
        return post_events(state, body, response)

    return router
