"""The soak: 1,000 dashboards (WebSockets, ``loadtest.peak.dashboards``) and a steady crowd checking
in and out for N minutes, sampling the server's processes every 10 s: resident memory, open files
(/proc/PID/fd), and the check-in latency median of each minute. Flat means the last minute is
within a margin of the first full one (memory +20 %, open files +10 %, latency x2)."""

import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loadtest.drills.harness import Stack
from loadtest.drills.load import Crowd, Load
from loadtest.drills.verdict import judge
from loadtest.peak.stack import access_token

SAMPLE_EVERY = 10.0


def _fds(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += len(list(Path(f"/proc/{pid}/fd").iterdir()))
    return total


def _rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


async def _open_dashboards(stack: Stack, count: int, seconds: float, workdir: Path) -> subprocess.Popen:
    token = await access_token(stack.database.url, "official")
    command = [sys.executable, "-m", "loadtest.peak.dashboards", "--http", stack.server.url, "--token", token,
               "--venues", ",".join(f"{v.id}:{v.signed_code}" for v in stack.venues), "--probes", "",
               "--count", str(count), "--duration", str(seconds), "--acks", str(workdir / "acks.txt")]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = await asyncio.to_thread(process.stdout.readline)
    print(f"dashboards: {line.strip()}", flush=True)
    process.stdin.write("GO\n")
    process.stdin.flush()
    return process


async def soak(minutes: float, dashboards: int = 1000, db: str = "sqlite") -> bool:
    seconds = minutes * 60
    workdir = Path(tempfile.mkdtemp(prefix="occ-soak-"))
    async with Stack(db, venues=20) as stack:
        board_process = await _open_dashboards(stack, dashboards, seconds + 5, workdir)
        load = await Load(stack, Crowd(visitors=150, stay=(1.0, 5.0), pause=(0.5, 2.0))).start()
        samples = []  # (seconds since start, rss, fds)
        began = time.monotonic()
        try:
            while time.monotonic() - began < seconds:
                await asyncio.sleep(SAMPLE_EVERY)
                pids = stack.server.pids()
                samples.append((time.monotonic() - began, _rss(pids), _fds(pids)))
        finally:
            await load.stop()
        result = await judge(f"soak {minutes:g} min, {dashboards} dashboards", stack, load, began, 30)
        board_result = await asyncio.to_thread(board_process.communicate, timeout=120)
    began_wall = time.time() - (time.monotonic() - began)
    per_minute = []
    for minute in range(int(minutes + 0.999)):
        rows = [s for s in samples if minute * 60 <= s[0] < (minute + 1) * 60]
        latencies = [lat for at, lat in load.answers.latencies
                     if minute * 60 <= at - began_wall < (minute + 1) * 60]
        if rows:
            per_minute.append((minute + 1, max(r[1] for r in rows), max(r[2] for r in rows),
                               statistics.median(latencies) * 1000 if latencies else float("nan"),
                               len(latencies)))
    print("| minute | server RSS (MB) | open files | check-in median (ms) | check-ins |")
    print("|---|---|---|---|---|")
    for minute, rss, fds, p50, n in per_minute:
        print(f"| {minute} | {rss / 2**20:.0f} | {fds} | {p50:.0f} | {n} |")
    first = per_minute[1] if len(per_minute) > 2 else per_minute[0]
    last = per_minute[-1]
    flat = {
        "memory": last[1] <= first[1] * 1.2,
        "open files": last[2] <= first[2] * 1.1 + 5,
        "latency": last[3] <= first[3] * 2,
    }
    print("flat: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in flat.items()))
    result_line = next((line for line in board_result[0].splitlines() if line.startswith("RESULT")), "")
    print(f"dashboards at the end: {result_line[:400]}")
    print(f"invariants: {'hold' if result.invariants_hold else 'BROKEN'}; "
          f"{result.acked_check_ins} check-ins, {result.acked_check_outs} check-outs acknowledged; "
          f"answers {result.statuses}")
    if not result.invariants_hold:
        print(result.explain())
    return all(flat.values()) and result.invariants_hold
