"""Limits against slow and huge clients.

- ``RequestDeadline``: uvicorn's HTTP protocol with a deadline for each request to arrive whole
  (headers and body) and for a new connection to start one. uvicorn bounds only the idle time
  between requests, so a client that connects and sends nothing, or sends a request a byte at a
  time, would hold its connection (and a slot of ``limit_concurrency``) for ever.
- ``BodyLimit``: a request body over the limit is refused with 413 as soon as it is known to be
  (its Content-Length, or the bytes received so far), before it is read in full and before any
  route or permission does work for it.
"""

import asyncio
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from occupancy.errors import BodyTooLarge, error_response
from occupancy.settings import get_settings


class RequestDeadline(HttpToolsProtocol):
    """Each connection notes when its current request (or the connection) began; one sweep a
    second per process closes those past the deadline. A timer per request cost about 2 % of a
    check-in's CPU; noting a time costs next to nothing."""

    _waiting: ClassVar[set["RequestDeadline"]] = set()  # connections not served by a socket
    _sweep: ClassVar[asyncio.TimerHandle | None] = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._since: float | None = self.loop.time()
        RequestDeadline._waiting.add(self)
        self._sweep_later()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._since = self.loop.time()

    def on_message_complete(self) -> None:
        self._since = None  # the request is in: what the app takes is not the client's doing
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        RequestDeadline._waiting.discard(self)  # the socket's own protocol takes over
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        RequestDeadline._waiting.discard(self)
        super().connection_lost(exc)

    def _sweep_later(self) -> None:
        if RequestDeadline._sweep is None:
            deadline = get_settings().request_timeout_seconds
            RequestDeadline._sweep = self.loop.call_later(min(1.0, deadline / 2), self._close_late, deadline)

    def _close_late(self, deadline: float) -> None:
        RequestDeadline._sweep = None
        now = self.loop.time()
        for connection in list(RequestDeadline._waiting):
            since = connection._since
            if since is not None and now - since > deadline and not connection.transport.is_closing():
                connection.transport.close()
        if RequestDeadline._waiting:
            self._sweep_later()


class BodyLimit:
    """Pure ASGI middleware: at most ``max_bytes`` of request body."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(self._too_large())(scope, receive, send)
            return
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise self._too_large()
            return message

        await self.app(scope, counted, send)

    def _too_large(self) -> BodyTooLarge:
        return BodyTooLarge(f"The request body must be at most {self.max_bytes} bytes.")
