"""uvicorn's HTTP/1.1 protocols (httptools, h11) with a deadline for receiving each request.

Why: uvicorn 0.54 has no request-read timeout. Its ``timeout_keep_alive`` covers only the idle
time *after* a response, and any byte received cancels it; a new connection that sends
nothing, or a client that sends its headers (or its body) a byte at a time, holds its
connection for ever. Connections are what ``limit_concurrency`` (``NOWREC_MAX_CONNECTIONS``)
counts, so a few hundred such clients take every slot, and every other request gets 503. ASGI
middleware cannot help: the app is called only once the headers are complete.

The deadline (``NOWREC_HTTP_REQUEST_TIMEOUT_S``), like Go's ``ReadHeaderTimeout`` and hyper's
``header_read_timeout`` but covering the body too:

- it starts when a connection opens (its first request) and when the first byte of a later
  request arrives on a kept-alive connection (the idle time between requests stays
  ``timeout_keep_alive``'s);
- it ends when the whole request (head and body) is in; the app's own time to answer is
  not limited;
- when it passes, a connection that sent part of a request gets ``408 Request Timeout`` and is
  closed; one that sent nothing is closed; one whose body was still arriving is closed (the
  app sees the client disconnect).

The service runs httptools (uvicorn's C parser, with uvloop: measured by
benchmarks/serve_load.py, the HTTP handling is much cheaper than h11's); the guard follows the
parser's callbacks. The h11 variant stays for an environment without httptools.
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("nowrec.api")

_TIMEOUT_BODY = b"request not received in time; send it again\n"
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\n"
    b"connection: close\r\n"
    b"\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


class _Deadline:
    """The deadline's timer, shared by the protocols below (a mix-in over uvicorn's)."""

    request_timeout_s: float = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout_s, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_started(self) -> bool:
        """Part of a request head is in (a 408 can be answered)."""
        raise NotImplementedError

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._head_started():
            self.transport.write(_TIMEOUT_RESPONSE)  # the parser cannot answer a head it never got
        log.debug(
            "closed a connection from %s: no whole request within %.1f s",
            "{}:{}".format(*self.client) if self.client else "?",
            self.request_timeout_s,
        )
        self.transport.close()


class DeadlineHttpToolsProtocol(_Deadline, HttpToolsProtocol):
    """uvicorn's httptools protocol (the fast C parser) with the deadline.

    httptools calls back as a request arrives: ``on_message_begin`` at its first byte,
    ``on_headers_complete``, ``on_message_complete`` when the body is in. The deadline runs
    from the connection's opening (its first request) or from a later request's first byte,
    to its last.
    """

    _receiving = False  # a request has begun and is not complete
    _head_in = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # the first request must come in time, as every later one

    def on_message_begin(self) -> None:
        self._receiving, self._head_in = True, False
        if self._deadline is None:
            self._arm()  # the first byte of a request on a kept-alive connection
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._head_in = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._receiving = False
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _head_started(self) -> bool:
        return self._receiving and not self._head_in


class DeadlineH11Protocol(_Deadline, H11Protocol):
    """uvicorn's h11 protocol (pure Python) with the deadline, read off h11's state."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self.conn.their_state is h11.IDLE:
            self._arm()
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()  # it may have started on a pipelined request

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _receiving(self) -> bool:
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            return True
        return state is h11.IDLE and bool(self.conn.trailing_data[0])

    def _head_started(self) -> bool:
        return self._receiving() and self.conn.their_state is h11.IDLE

    def _follow(self) -> None:
        if self._receiving():
            if self._deadline is None:
                self._arm()
        elif self.conn.their_state is not h11.IDLE or self.cycle is not None:
            self._disarm()


def deadline_protocol(request_timeout_s: float, parser: str = "httptools") -> type:
    """The protocol class for ``uvicorn.run(http=...)`` with this deadline: the httptools
    parser (C, the service's default) or h11 (pure Python)."""
    base = DeadlineHttpToolsProtocol if parser == "httptools" else DeadlineH11Protocol
    return type(base.__name__, (base,), {"request_timeout_s": float(request_timeout_s)})
