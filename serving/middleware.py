"""Pure ASGI middleware of the API: request metrics and the request body limit.

Pure ASGI (not ``BaseHTTPMiddleware``) so that they cost microseconds per request and never
buffer a body.
"""

from __future__ import annotations

import time

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.api.errors import error_response
from serving.api_metrics import ApiMetrics

#: Label values taken from a request come from closed sets, so that no client can grow the
#: number of series (each costs memory in every process and in Prometheus): invented methods
#: and paths that match no route are all counted as ``other``.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


class RequestMetricsMiddleware:
    """Latency histogram and status counter per route template."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # The router stores the matched route in the scope; its path_format is the template
            # as OpenAPI shows it ("{product_id}", without the ":path" converter).
            route = getattr(scope.get("route"), "path_format", None) or OTHER
            method = scope["method"] if scope["method"] in KNOWN_METHODS else OTHER
            m = self.metrics
            m.request_seconds_of(method, route).observe(time.perf_counter() - started)
            m.requests_of(method, route, str(status)).inc()


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with a JSON 413.

    A declared ``Content-Length`` over the limit is answered before the body is read; a body
    without one (chunked) is counted as it arrives, and the route fails with 413 as soon as it
    passes the limit (the exception handler turns it into the JSON error).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return f"request body is over the {self.max_bytes}-byte limit; send smaller batches"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit():
                response = error_response(400, f"invalid Content-Length header {declared[:40]!r}")
                await response(scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await error_response(413, self._message())(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited_receive, send)
