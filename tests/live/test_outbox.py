"""One socket's outbox: at most one frame waits, a reader that stops reading is dropped, and so
is a page whose keep-alives stop."""

import asyncio
import json

from occupancy.live.outbox import CLOSE_SILENT, CLOSE_TOO_SLOW, Frame, Outbox, Sweep


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
    outbox = Outbox(socket, Sweep(send_timeout=0.2))
    outbox.offer(Frame({"count": 1}))

    await asyncio.wait_for(outbox.run(), 5)  # returns: the socket is given up

    assert socket.closed_with == CLOSE_TOO_SLOW
    assert socket.sent == [{"count": 1}] and outbox.sent == 0


async def test_frames_offered_during_a_slow_send_wait_as_one_the_latest():
    socket = GatedSocket()
    outbox = Outbox(socket, Sweep(send_timeout=5))
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


async def test_a_reader_stuck_while_others_read_is_dropped_alone():
    sweep = Sweep(send_timeout=0.3)
    stuck, reading = GatedSocket(), GatedSocket()
    reading.gate.set()
    stuck_box, reading_box = Outbox(stuck, sweep), Outbox(reading, sweep)
    runner = asyncio.create_task(reading_box.run())
    stuck_box.offer(Frame({"count": 1}))
    for count in range(1, 6):
        reading_box.offer(Frame({"count": count}))
        await asyncio.sleep(0.1)

    await asyncio.wait_for(stuck_box.run(), 5)
    await asyncio.sleep(0.5)  # past the timeout: the healthy one is still served

    reading_box.offer(Frame({"count": 6}))
    async with asyncio.timeout(5):
        while reading.sent[-1] != {"count": 6}:
            await asyncio.sleep(0.01)
    assert stuck.closed_with == CLOSE_TOO_SLOW and reading.closed_with is None
    assert not runner.done()
    reading_box.stop()
    await asyncio.wait_for(runner, 5)


async def test_a_page_whose_keep_alives_stop_is_let_go_and_a_quiet_script_is_not():
    sweep = Sweep(send_timeout=5, silent_seconds=0.5)
    page, script = Outbox(GatedSocket(), sweep), Outbox(GatedSocket(), sweep)
    runners = [asyncio.create_task(box.run()) for box in (page, script)]
    page.heard()  # the page's keep-alive; the script never sends a thing

    done, _ = await asyncio.wait(runners, timeout=5, return_when=asyncio.FIRST_COMPLETED)

    assert done == {runners[0]} and page.close_with == (CLOSE_SILENT, "keep-alive timeout")
    assert script.close_with is None and not runners[1].done()
    script.stop()
    await asyncio.wait_for(runners[1], 5)
