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

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from occupancy.errors import BodyTooLarge, error_response
from occupancy.settings import get_settings


class RequestDeadline(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_message_complete(self) -> None:
        self._disarm()  # the request is in: what the app takes is not the client's doing
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the socket's own protocol takes over the connection
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(get_settings().request_timeout_seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


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
