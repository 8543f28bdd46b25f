"""One socket's outbox: at most one frame waits (the latest state), so a slow reader never builds
a backlog; a reader stuck for longer than ``send_timeout`` is dropped."""

import asyncio
import contextlib
from collections.abc import Callable

import msgspec
from starlette.websockets import WebSocket

CLOSE_TOO_SLOW = 4408


class Frame:
    """A frame offered to many sockets: encoded to JSON once, when the first one sends it."""

    __slots__ = ("data", "_text")

    def __init__(self, data: dict) -> None:
        self.data = data
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = msgspec.json.encode(self.data).decode()
        return self._text


class Outbox:
    def __init__(
        self,
        websocket: WebSocket,
        send_timeout: float = 10.0,
        merge: Callable[[dict, dict], dict] | None = None,
    ) -> None:
        self.websocket = websocket
        self.send_timeout = send_timeout
        self.merge = merge
        self._pending: Frame | None = None
        self._wake = asyncio.Event()
        self.sent = 0
        self.replaced = 0  # frames skipped because a newer state came first (for tests)

    @property
    def waiting(self) -> int:
        """Frames held for this socket: 0 or 1, whatever the rate of updates."""
        return 0 if self._pending is None else 1

    def offer(self, frame: Frame) -> None:
        if self._pending is not None:
            self.replaced += 1
            if self.merge:
                frame = Frame(self.merge(self._pending.data, frame.data))
        self._pending = frame
        self._wake.set()

    async def run(self) -> None:
        """Send frames as they come; return when the socket is too slow (after closing it)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            frame, self._pending = self._pending, None
            if frame is None:
                continue
            try:
                # A deadline on this task, not wait_for: that would start a task per frame.
                async with asyncio.timeout(self.send_timeout):
                    await self.websocket.send_text(frame.text)
            except TimeoutError:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.websocket.close(CLOSE_TOO_SLOW), 1.0)
                return
            self.sent += 1
