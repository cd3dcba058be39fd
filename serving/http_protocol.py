"""uvicorn's HTTP/1.1 protocol (h11) with a deadline for receiving each request.

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

The protocol is h11 whatever else is installed (uvicorn's ``auto`` would take httptools if it
were), because the guard reads h11's connection state.
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("nowrec.api")

_TIMEOUT_BODY = b"request not received in time; send it again\n"
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\n"
    b"connection: close\r\n"
    b"\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


class DeadlineH11Protocol(H11Protocol):
    """:class:`H11Protocol` that closes a connection not delivering a request in time.

    Use :func:`deadline_protocol` to make the class uvicorn is given (``http=``); the deadline
    is a class attribute because uvicorn creates each connection's protocol itself.
    """

    request_timeout_s: float = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # the first request must come in time, as every later one

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the first byte of a request on a kept-alive connection
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()  # it may have started on a pipelined request

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _receiving(self) -> bool:
        """Whether part of a request is in and the rest is not."""
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            return True
        return state is h11.IDLE and bool(self.conn.trailing_data[0])

    def _follow(self) -> None:
        """Keep the deadline while a request is arriving, or while a new connection has not
        sent its first; drop it once the request is in, and between requests."""
        if self._receiving():
            if self._deadline is None:
                self._arm()
        elif self.conn.their_state is not h11.IDLE or self.cycle is not None:
            self._disarm()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout_s, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        started = self._receiving()
        if started and self.conn.their_state is h11.IDLE:
            self.transport.write(_TIMEOUT_RESPONSE)  # h11 cannot answer a head it never got
        log.debug(
            "closed a connection from %s: no whole request within %.1f s",
            "{}:{}".format(*self.client) if self.client else "?",
            self.request_timeout_s,
        )
        self.transport.close()


def deadline_protocol(request_timeout_s: float) -> type[DeadlineH11Protocol]:
    """The protocol class for ``uvicorn.run(http=...)`` with this deadline."""
    return type(
        "DeadlineH11Protocol",
        (DeadlineH11Protocol,),
        {"request_timeout_s": float(request_timeout_s)},
    )
