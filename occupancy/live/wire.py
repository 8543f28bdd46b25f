"""Live frames written straight to each socket's transport.

Sent through ASGI, every frame to every socket woke the socket's task and went down through
Starlette and uvicorn to frame the same bytes again; with thousands of screens open that was
most of what a frame cost. Here a frame's bytes are built once for all its sockets, and uvicorn's
WebSocket protocol, subclassed, offers the app a call (an ASGI scope extension) that writes them
at once when the socket can take them: open, and its write buffer below the high-water mark. When
it cannot, the caller sends through ASGI as before, which waits for a slow reader under the send
timeout (``occupancy.live.outbox``).

A socket that only listens (a manager's dashboard, an official's city screen) can also be handed
over by the app once its snapshot is sent (``detach``): the app's task ends, and with it the
request's state, its middleware frames and its receive queue, which were most of the memory an
open socket held. What the client sends, the buffer draining and the connection's end then go
to a ``Listener`` (``occupancy.live.outbox.DirectOutbox``), called by uvicorn's own paths.
"""

from collections.abc import Callable
from typing import Protocol

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

# The scope extension's name; its value writes a frame's bytes, and says whether it could.
EXTENSION = "occupancy.write_frame"
# The extension handing the socket over (``DirectFrameProtocol.detach``), and the scope key it
# sets, so that the middleware counting open sockets leaves the count to the listener.
DETACH = "occupancy.detach"
DETACHED = "occupancy.detached"


class Listener(Protocol):
    def received(self, text: str | None) -> None:
        """The client sent a message (None: not text)."""

    def drained(self) -> None:
        """The socket's write buffer went below its low-water mark: it takes frames again."""

    def closed(self) -> None:
        """The connection ended (closed by either side, lost, or the server shutting down); may
        be called more than once."""


def writer_in(scope: dict) -> Callable[[bytes], bool] | None:
    """The ``write_frame`` of the socket of ``scope``, if its server offers one."""
    return scope.get("extensions", {}).get(EXTENSION)


def detacher_in(scope: dict) -> Callable[[Listener], Callable[[int, str], None] | None] | None:
    """The ``detach`` of the socket of ``scope``, if its server offers one."""
    return scope.get("extensions", {}).get(DETACH)


def text_frame(text: str) -> bytes:
    """An unmasked, unfragmented text frame: what a server sends with no extension negotiated."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class _ToListener:
    """Takes the place of uvicorn's receive queue once the socket is handed over: the messages
    uvicorn would queue for the app (one received, the peer's close, a lost connection, the
    server's shutdown) go to the listener instead."""

    __slots__ = ("listener",)

    def __init__(self, listener: Listener) -> None:
        self.listener = listener

    def put_nowait(self, message: dict) -> None:
        if message["type"] == "websocket.receive":
            self.listener.received(message.get("text"))
        elif message["type"] == "websocket.disconnect":
            self.listener.closed()


class DirectFrameProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, offering ``write_frame`` and ``detach`` to the app in its
    scope."""

    _detached = False

    def handle_connect(self, event) -> None:
        super().handle_connect(event)
        # Frames built once for every socket carry no extension (per-message deflate is off,
        # occupancy.serving); a client that negotiated one is sent through ASGI.
        if self.response.status_code == 101 and not self.conn.extensions:
            self.scope["extensions"][EXTENSION] = self.write_frame
            self.scope["extensions"][DETACH] = self.detach

    def write_frame(self, frame: bytes) -> bool:
        """Write ``frame`` now if the socket is open and its reader keeps up; False if not sent."""
        if (self.handshake_complete and not self.close_sent and self.writable.is_set()
                and self.conn.state is State.OPEN and not self.transport.is_closing()):
            self.transport.write(frame)
            return True
        return False

    def _open(self) -> bool:
        return (self.handshake_complete and not self.close_sent and not self.disconnected
                and self.conn.state is State.OPEN and not self.transport.is_closing())

    def detach(self, listener: Listener) -> Callable[[int, str], None] | None:
        """Hand the open socket over to ``listener``: the app's task may end without the socket
        closing. Returns the call that closes it, or None if it is no longer open (nothing is
        handed over then, and the app ends as usual)."""
        if not self._open():
            return None
        queued, self.queue = self.queue, _ToListener(listener)
        self._detached = True
        self.scope[DETACHED] = True
        self.request = self.response = None  # the handshake's, no longer needed
        while not queued.empty():  # what came before the app let go
            self.queue.put_nowait(queued.get_nowait())
        self._resume_reading()
        return self.close

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake of a handed-over socket, as uvicorn does for the app; a
        peer that does not answer it (or does not read) is cut off after ``close_timeout``."""
        if not self._open():
            return
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self._resume_reading()  # to read the peer's answer
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.abort)
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code})

    def _resume_reading(self) -> None:
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    def send_receive_event_to_app(self) -> None:
        super().send_receive_event_to_app()
        if self._detached:  # uvicorn pauses until the app reads; the listener has read it
            self._resume_reading()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._detached:
            self.queue.listener.drained()

    async def run_asgi(self) -> None:
        """uvicorn's, except that the connection stays open when the app handed it over."""
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
        if self._detached:
            self.scope = None  # the request's state goes with the app's task
            return
        if self.close_timer is None:
            self.transport.close()
