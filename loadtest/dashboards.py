"""Open dashboards: N manager WebSockets held open while the load runs, plus probes that measure
the delay from a check-in of their own to the update on their dashboard.

Run by bench.py as its own process (``python -m loadtest.dashboards ...``). Protocol on stdout:
``READY {...}`` once the sockets are open (or ``UNAVAILABLE reason``); the harness then writes
``GO`` on stdin; after ``--duration`` seconds the process prints ``RESULT {...}`` and exits.
Probe venues get no other traffic, so the first update after a probe's check-in is its own.
"""

import argparse
import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path

import httpx
import websockets

PROBE_PARTY = 1
PROBE_PAUSE = 0.3  # seconds


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class Dashboard:
    """One open socket; remembers the last count and wakes whoever waits for the next update."""

    def __init__(self, socket, lags: list[float]) -> None:
        self.socket = socket
        self.lags = lags
        self.count: int | None = None
        self.updates = 0
        self.changed = asyncio.Event()

    async def read(self) -> None:
        try:
            async for message in self.socket:
                received = time.time()
                frame = json.loads(message)
                if frame.get("type") == "update":
                    self.updates += 1
                    if "at" in frame:
                        self.lags.append(received - float(frame["at"]))
                if "count" in frame and frame["count"] != self.count:
                    self.count = frame["count"]
                    self.changed.set()
        except websockets.ConnectionClosed:
            pass


async def open_dashboard(url: str, lags: list[float]) -> Dashboard:
    socket = await websockets.connect(url, open_timeout=30, max_queue=4, ping_interval=None)
    dashboard = Dashboard(socket, lags)
    first = json.loads(await asyncio.wait_for(socket.recv(), 30))
    if first.get("type") != "snapshot":
        raise RuntimeError(f"first frame was not a snapshot: {str(first)[:200]}")
    dashboard.count = first.get("count")
    dashboard.task = asyncio.create_task(dashboard.read())
    return dashboard


async def probe(http: httpx.AsyncClient, dashboard: Dashboard, signed_code: str, delays: list[float],
                acks, stop_at: float) -> None:
    """Check in, time the update on our own dashboard, check out, wait for that update too."""
    n = 0
    while time.monotonic() < stop_at:
        n += 1
        dashboard.changed.clear()
        sent = time.perf_counter()
        try:
            response = await http.post(f"/api/venues/{signed_code}/check-ins", json={
                "name": "Probe Manager", "phone": "081200000000", "party_size": PROBE_PARTY})
        except httpx.HTTPError:  # no answer in time: that check-in is not acknowledged
            delays.append(float("inf"))
            continue
        if response.status_code != 201:
            await asyncio.sleep(0.1)
            continue
        body = response.json()
        acks.write(f"i {body['visit_id']} {body['ticket']}\n")
        try:
            await asyncio.wait_for(dashboard.changed.wait(), 5)
            delays.append(time.perf_counter() - sent)
        except TimeoutError:
            delays.append(float("inf"))  # never seen: counts as slower than any seen
        dashboard.changed.clear()
        try:
            out = await http.post(f"/api/tickets/{body['ticket']}/check-out")
        except httpx.HTTPError:
            continue
        if out.status_code == 200:
            acks.write(f"o {body['visit_id']}\n")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(dashboard.changed.wait(), 5)
        # Longer than the server's per-venue pacing (5 updates/s by default): the next check-in
        # then times the path from event to dashboard, not the pause the rate bound imposes
        # on a venue that was just updated.
        await asyncio.sleep(PROBE_PAUSE)


async def main(args: argparse.Namespace) -> None:
    ws_base = args.http.replace("http://", "ws://")
    token = args.token
    loaded = [int(v) for v in args.venues.split(",") if v]
    probes = [p.split(":") for p in args.probes.split(",") if p]  # id:signed_code
    lags: list[float] = []
    probe_lags: list[float] = []

    try:
        probe_boards = [await open_dashboard(f"{ws_base}/ws/venues/{vid}?token={token}", probe_lags)
                        for vid, _ in probes]
    except Exception as exc:  # no socket backend yet, or it refused us
        print(f"UNAVAILABLE {type(exc).__name__}: {str(exc)[:200]}", flush=True)
        return
    boards: list[Dashboard] = []
    failed = 0
    semaphore = asyncio.Semaphore(100)

    async def one(i: int) -> None:
        nonlocal failed
        async with semaphore:
            try:
                url = f"{ws_base}/ws/venues/{loaded[i % len(loaded)]}?token={token}"
                boards.append(await open_dashboard(url, lags))
            except Exception:
                failed += 1

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(args.count)))
    print("READY " + json.dumps({"opened": len(boards), "failed": failed,
                                 "seconds": round(time.monotonic() - started, 2)}), flush=True)

    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # GO
    lags.clear()
    delays: list[float] = []
    stop_at = time.monotonic() + args.duration
    with open(Path(args.acks), "w", buffering=1) as acks:
        async with httpx.AsyncClient(base_url=args.http, timeout=10) as http:
            await asyncio.gather(*(probe(http, board, code, delays, acks, stop_at)
                                   for board, (_, code) in zip(probe_boards, probes, strict=True)))
    if not probes:  # dashboards only (the probes run in their own process): hold them open
        await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
    open_now = sum(1 for b in boards if b.socket.state.name == "OPEN")
    result = {
        "opened": len(boards), "failed": failed, "still_open": open_now,
        "probes": len(delays), "probes_unseen": sum(d == float("inf") for d in delays),
        "p50_ms": _ms(percentile(delays, 50)), "p99_ms": _ms(percentile(delays, 99)),
        "fanout_frames": len(lags),
        "fanout_p50_ms": _ms(percentile(lags, 50)), "fanout_p99_ms": _ms(percentile(lags, 99)),
    }
    print("RESULT " + json.dumps(result), flush=True)
    await asyncio.gather(*(b.socket.close() for b in boards + probe_boards), return_exceptions=True)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http", required=True, help="http://127.0.0.1:PORT")
    parser.add_argument("--token", required=True, help="an official's access token")
    parser.add_argument("--venues", required=True, help="ids of the loaded venues, comma-separated")
    parser.add_argument("--probes", required=True, help="id:signed_code of the probe venues")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--acks", required=True)
    asyncio.run(main(parser.parse_args()))
