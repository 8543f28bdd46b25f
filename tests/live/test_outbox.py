"""One socket's outbox: at most one frame waits, and a reader that stops reading is dropped."""

import asyncio
import json

from occupancy.live.outbox import CLOSE_TOO_SLOW, Frame, Outbox


class GatedSocket:
    """The far end of a socket that takes a frame only when the test lets it."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.gate = asyncio.Event()
        self.closed_with: int | None = None

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))
        await self.gate.wait()

    async def close(self, code: int) -> None:
        self.closed_with = code


async def test_a_reader_stuck_longer_than_the_send_timeout_is_dropped():
    socket = GatedSocket()  # never opens
    outbox = Outbox(socket, send_timeout=0.2)
    outbox.offer(Frame({"count": 1}))

    await asyncio.wait_for(outbox.run(), 5)  # returns: the socket is given up

    assert socket.closed_with == CLOSE_TOO_SLOW
    assert socket.sent == [{"count": 1}] and outbox.sent == 0


async def test_frames_offered_during_a_slow_send_wait_as_one_the_latest():
    socket = GatedSocket()
    outbox = Outbox(socket, send_timeout=5)
    runner = asyncio.create_task(outbox.run())
    outbox.offer(Frame({"count": 1}))
    await asyncio.sleep(0.05)  # the first frame is on its way, and stuck
    for count in (2, 3, 4):
        outbox.offer(Frame({"count": count}))
    assert outbox.waiting == 1

    socket.gate.set()
    async with asyncio.timeout(5):
        while outbox.sent < 2:
            await asyncio.sleep(0.01)
    runner.cancel()

    assert socket.sent == [{"count": 1}, {"count": 4}]
    assert outbox.replaced == 2 and socket.closed_with is None
