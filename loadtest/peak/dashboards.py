"""Open dashboards: N manager WebSockets held open while the load runs, plus probes that measure
the delay from a check-in of their own to the update on their dashboard.

Run by bench.py as its own process (``python -m loadtest.peak.dashboards ...``). Protocol on stdout:
``READY {...}`` once the sockets are open (or ``UNAVAILABLE reason``); the harness then writes
``GO`` on stdin; after ``--duration`` seconds the process prints ``RESULT {...}`` and exits.
Probe venues get no other traffic, so the first update after a probe's check-in is its own.
"""

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import httpx
import msgspec
import uvloop
import websockets

PROBE_PARTY = 1
PROBE_PAUSE = 0.3  # seconds
# msgspec, not json: with 5,000 sockets this client parses tens of thousands of frames a second
# on the server's machine, and json.loads was a good part of its CPU.
_decode = msgspec.json.Decoder().decode


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class Dashboard:
    """One open socket; remembers the last count and wakes whoever waits for the next update."""

    def __init__(self, venue_id: int, socket, lags: list[float], event_lags: list[float],
                 probe: bool = False) -> None:
        self.venue_id = venue_id
        self.socket = socket
        self.lags = lags
        self.event_lags = event_lags
        self.count: int | None = None
        self.updates = 0
        self.changed = asyncio.Event()
        # A probe's (received, event time) of each "in" shown; the other dashboards keep none.
        self.entries: list[tuple[float, float]] | None = [] if probe else None

    async def read(self) -> None:
        try:
            async for message in self.socket:
                received = time.time()
                frame = _decode(message)
                if frame.get("type") == "update":
                    self.updates += 1
                    if "at" in frame:
                        self.lags.append(received - float(frame["at"]))
                    # Event to screen: from the oldest event the update brings (the one that
                    # waited longest, pacing included) to its receipt here.
                    if frame.get("recent"):
                        self.event_lags.append(received - min(e["at"] for e in frame["recent"]))
                        if self.entries is not None:
                            self.entries += [(received, e["at"]) for e in frame["recent"]
                                             if e["event"] == "in"]
                if "count" in frame:
                    self.count = frame["count"]
                self.changed.set()
        except websockets.ConnectionClosed:
            pass


async def open_dashboard(base: str, venue_id: int, token: str, lags: list[float],
                         event_lags: list[float], probe: bool = False,
                         source: str | None = None, display_code: str | None = None) -> Dashboard:
    """A manager's dashboard of the venue; with ``display_code``, its public door display."""
    path, headers = f"/ws/venues/{venue_id}", {"Authorization": f"Bearer {token}"}
    if display_code is not None:
        path, headers = f"/ws/display/{display_code}", {}
    # A browser offers permessage-deflate, and so does this client (websockets' default).
    socket = await websockets.connect(f"{base}{path}", open_timeout=30, max_queue=4,
                                      ping_interval=None, additional_headers=headers,
                                      local_addr=(source, 0) if source else None)
    dashboard = Dashboard(venue_id, socket, lags, event_lags, probe)
    first = _decode(await asyncio.wait_for(socket.recv(), 30))
    if first.get("type") != "snapshot":
        raise RuntimeError(f"first frame was not a snapshot: {str(first)[:200]}")
    dashboard.count = first.get("count")
    dashboard.task = asyncio.create_task(dashboard.read())
    return dashboard


async def probe(http: httpx.AsyncClient, dashboard: Dashboard, signed_code: str, delays: list[float],
                http_delays: list[float], own_event: list[float], acks, stop_at: float) -> None:
    """Check in, time the update on our own dashboard that shows our check-in's event, check out,
    wait for that update too."""
    while time.monotonic() < stop_at:
        sent = time.time()  # the server stamps the event later, on the same clock
        try:
            response = await http.post(f"/api/venues/{signed_code}/check-ins", json={
                "name": "Probe Manager", "phone": "081200000000", "party_size": PROBE_PARTY})
        except httpx.HTTPError:  # no answer in time: that check-in is not acknowledged
            delays.append(float("inf"))
            continue
        if response.status_code != 201:
            await asyncio.sleep(0.1)
            continue
        http_delays.append(time.time() - sent)
        body = response.json()
        acks.write(f"i {body['visit_id']} {body['ticket']}\n")
        shown = await _shown(dashboard, sent, 5)
        if shown is None:
            delays.append(float("inf"))  # never seen: counts as slower than any seen
        else:
            received, at = shown
            delays.append(received - sent)
            own_event.append(received - at)  # our event in Redis to the screen (no HTTP in it)
        count_after = body["occupancy"]["count"] - PROBE_PARTY
        try:
            out = await http.post(f"/api/tickets/{body['ticket']}/check-out")
        except httpx.HTTPError:
            continue
        if out.status_code == 200:
            acks.write(f"o {body['visit_id']}\n")
        await _until(lambda after=count_after: dashboard.count == after, dashboard, 5)
        # Longer than the server's per-venue pacing (5 updates/s by default): the next check-in
        # then times the path from event to dashboard, not the pause the rate bound imposes
        # on a venue that was just updated.
        await asyncio.sleep(PROBE_PAUSE)


async def _until(condition, dashboard: Dashboard, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        dashboard.changed.clear()
        try:
            await asyncio.wait_for(dashboard.changed.wait(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            return condition()
    return True


async def _shown(dashboard: Dashboard, sent: float, timeout: float) -> tuple[float, float] | None:
    """(received, event time) of the first "in" event since ``sent`` on the dashboard."""
    def ours():
        return next(((r, at) for r, at in dashboard.entries if at >= sent), None)
    await _until(lambda: ours() is not None, dashboard, timeout)
    found = ours()
    dashboard.entries.clear()
    return found


async def stale_at_rest(http: httpx.AsyncClient, boards: list[Dashboard], token: str,
                        timeout: float = 10.0) -> int:
    """Dashboards whose count still differs from the venue's count once the load has stopped:
    an update lost on the way would leave one wrong for good."""
    deadline = time.monotonic() + timeout
    while True:
        counts = {}
        for venue_id in {b.venue_id for b in boards}:
            answer = await http.get(f"/api/venues/{venue_id}/today",
                                    headers={"Authorization": f"Bearer {token}"})
            counts[venue_id] = answer.json()["count"]
        stale = sum(1 for b in boards if b.count != counts[b.venue_id])
        if not stale or time.monotonic() > deadline:
            return stale
        await asyncio.sleep(0.5)


async def main(args: argparse.Namespace) -> None:
    ws_base = args.http.replace("http://", "ws://")
    token = args.token
    loaded = [v.split(":") for v in args.venues.split(",") if v]  # id:signed_code
    probes = [p.split(":") for p in args.probes.split(",") if p]  # id:signed_code
    lags: list[float] = []
    probe_lags: list[float] = []
    event_lags: list[float] = []

    try:
        probe_boards = [await open_dashboard(ws_base, int(vid), token, probe_lags, event_lags,
                                             probe=True)
                        for vid, _ in probes]
    except Exception as exc:  # no socket backend yet, or it refused us
        print(f"UNAVAILABLE {type(exc).__name__}: {str(exc)[:200]}", flush=True)
        return
    boards: list[Dashboard] = []
    failed = 0
    semaphore = asyncio.Semaphore(100)

    async def one(i: int) -> None:
        nonlocal failed
        venue_id, signed_code = loaded[i % len(loaded)]
        # Spread evenly: every venue gets its share of door displays.
        display = (i * args.displays_percent) // 100 != ((i + 1) * args.displays_percent) // 100
        async with semaphore:
            try:
                boards.append(await open_dashboard(
                    ws_base, int(venue_id), token, lags, event_lags, source=args.source,
                    display_code=signed_code if display else None))
            except Exception:
                failed += 1

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(args.count)))
    print("READY " + json.dumps({"opened": len(boards), "failed": failed,
                                 "seconds": round(time.monotonic() - started, 2)}), flush=True)

    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # GO
    lags.clear()
    event_lags.clear()
    cpu_started = time.process_time()
    delays: list[float] = []
    http_delays: list[float] = []
    own_event: list[float] = []
    stop_at = time.monotonic() + args.duration
    with open(Path(args.acks), "w", buffering=1) as acks:
        async with httpx.AsyncClient(base_url=args.http, timeout=10) as http:
            await asyncio.gather(*(probe(http, board, code, delays, http_delays, own_event, acks, stop_at)
                                   for board, (_, code) in zip(probe_boards, probes, strict=True)))
    if not probes:  # dashboards only (the probes run in their own process): hold them open
        await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
    cpu_percent = round(100 * (time.process_time() - cpu_started) / args.duration, 1)
    async with httpx.AsyncClient(base_url=args.http, timeout=30) as http:
        stale = await stale_at_rest(http, boards + probe_boards, token)
    open_now = sum(1 for b in boards if b.socket.state.name == "OPEN")
    result = {
        "opened": len(boards), "failed": failed, "still_open": open_now,
        "probes": len(delays), "probes_unseen": sum(d == float("inf") for d in delays),
        "p50_ms": _ms(percentile(delays, 50)), "p99_ms": _ms(percentile(delays, 99)),
        "fanout_frames": len(lags),
        "fanout_p50_ms": _ms(percentile(lags, 50)), "fanout_p99_ms": _ms(percentile(lags, 99)),
        "own_event_p50_ms": _ms(percentile(own_event, 50)),
        "own_event_p99_ms": _ms(percentile(own_event, 99)),
        "http_p50_ms": _ms(percentile(http_delays, 50)), "http_p99_ms": _ms(percentile(http_delays, 99)),
        "event_frames": len(event_lags), "event_p50_ms": _ms(percentile(event_lags, 50)),
        "event_p99_ms": _ms(percentile(event_lags, 99)),
        # This client's own CPU over the run: it shares the machine with the server.
        "cpu_percent": cpu_percent,
        "stale_at_rest": stale,
    }
    print("RESULT " + json.dumps(result), flush=True)
    await asyncio.gather(*(b.socket.close() for b in boards + probe_boards), return_exceptions=True)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http", required=True, help="http://127.0.0.1:PORT")
    parser.add_argument("--token", required=True, help="an official's access token")
    parser.add_argument("--venues", required=True,
                        help="id:signed_code of the loaded venues, comma-separated")
    parser.add_argument("--displays-percent", type=int, default=0,
                        help="share of the screens that are door displays, not dashboards")
    parser.add_argument("--probes", required=True, help="id:signed_code of the probe venues")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--acks", required=True)
    parser.add_argument("--source", default=None,
                        help="local address of the sockets (127.0.0.x): each has its own ports")
    # uvloop, as the server: this client shares the machine with it and should cost it little.
    uvloop.run(main(parser.parse_args()))
