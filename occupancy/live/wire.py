"""Live frames written straight to each socket's transport.

Sent through ASGI, every frame to every socket woke the socket's task and went down through
Starlette and uvicorn to frame the same bytes again; with thousands of screens open that was
most of what a frame cost. Here a frame's bytes are built once for all its sockets, and uvicorn's
WebSocket protocol, subclassed, offers the app a call (an ASGI scope extension) that writes them
at once when the socket can take them: open, and its write buffer below the high-water mark. When
it cannot, the caller sends through ASGI as before, which waits for a slow reader under the send
timeout (``occupancy.live.outbox``).
"""

from collections.abc import Callable

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

# The scope extension's name; its value writes a frame's bytes, and says whether it could.
EXTENSION = "occupancy.write_frame"


def writer_in(scope: dict) -> Callable[[bytes], bool] | None:
    """The ``write_frame`` of the socket of ``scope``, if its server offers one."""
    return scope.get("extensions", {}).get(EXTENSION)


def text_frame(text: str) -> bytes:
    """An unmasked, unfragmented text frame: what a server sends with no extension negotiated."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class DirectFrameProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, offering ``write_frame`` to the app in its scope."""

    def handle_connect(self, event) -> None:
        super().handle_connect(event)
        # Frames built once for every socket carry no extension (per-message deflate is off,
        # occupancy.serving); a client that negotiated one is sent through ASGI.
        if self.response.status_code == 101 and not self.conn.extensions:
            self.scope["extensions"][EXTENSION] = self.write_frame

    def write_frame(self, frame: bytes) -> bool:
        """Write ``frame`` now if the socket is open and its reader keeps up; False if not sent."""
        if (self.handshake_complete and not self.close_sent and self.writable.is_set()
                and self.conn.state is State.OPEN and not self.transport.is_closing()):
            self.transport.write(frame)
            return True
        return False
