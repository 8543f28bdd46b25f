"""CPU per visit of each part of the several-host stack: what docs/operations.md "Scale out" sizes
a deployment from.

    flock /tmp/bench.lock uv run --group loadtest python -m loadtest.peak.scale --visits 4000 --runs 3

Starts ``occupancy stack up --demo`` (as root: two app hosts behind nginx, a Redis Cluster of three
masters with a replica each, PostgreSQL, Prometheus, each in its own network namespace), then for
each run sends ``--visits`` visits through the balancer (a check-in, then its check-out, from
``--concurrency`` phones at once over the demo venues) and reads each part's CPU time (user +
system, every process of the part, with the children it reaped) before and after, less what the
part uses at rest over as long (measured just before). Each part has
its own processes, so its CPU per visit is its own, whatever else shares the machine; throughput
is not the point here (the client shares the machine too). Prints one line per run and the medians.
"""

import argparse
import asyncio
import contextlib
import os
import statistics
import time
import uuid
from pathlib import Path

import httpx

from occupancy.stack.stack import Stack

PARTS = {"app hosts": ("app-a", "app-b"), "Redis Cluster": ("redis",), "PostgreSQL": ("postgres",),
         "nginx": ("nginx",)}


def _stat(pid: int) -> list[str]:
    # The command name (field 2) may hold spaces: count fields after its ")".
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(child) for child in (task / "children").read_text().split()]
    return found


def tree_cpu_seconds(roots: list[int]) -> float:
    """CPU time of these processes and all their descendants, with what they reaped (a worker or
    a database backend that ended during the load still counts)."""
    ticks, total = os.sysconf("SC_CLK_TCK"), 0
    for root in roots:
        for pid in _tree(root):
            with contextlib.suppress(OSError, IndexError):
                fields = _stat(pid)
                total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / ticks


def part_cpu(stack: Stack) -> dict[str, float]:
    return {part: tree_cpu_seconds([pid for host in hosts for pid in stack.pids.get(host, [])])
            for part, hosts in PARTS.items()}


def demo_codes(stack: Stack) -> list[str]:
    """The signed codes of the demo venues, from the visitor URLs ``demo`` printed."""
    return [line.split("/v/")[-1].strip() for line in stack.demo_lines if "/v/" in line]


async def visits(stack: Stack, codes: list[str], count: int, concurrency: int) -> float:
    """``count`` check-ins each followed by its check-out; returns the seconds taken."""
    left = count
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=stack.balancer_url, verify=False, timeout=30,
                                 limits=limits) as http:
        async def phone(n: int) -> None:
            nonlocal left
            while left > 0:
                left -= 1
                body = {"name": "Budi Santoso", "phone": "0812 3456 7890", "party_size": 1,
                        "idempotency_key": uuid.uuid4().hex}
                answer = await http.post(f"/api/venues/{codes[left % len(codes)]}/check-ins",
                                         json=body)
                answer.raise_for_status()
                gone = await http.post("/api/check-outs", json={"ticket": answer.json()["ticket"]})
                gone.raise_for_status()

        started = time.monotonic()
        await asyncio.gather(*(phone(n) for n in range(concurrency)))
        return time.monotonic() - started


def measure(stack: Stack, codes: list[str], count: int, concurrency: int,
            idle_seconds: float) -> tuple[float, dict[str, tuple[float, float]]]:
    """One run: the parts' CPU at rest over ``idle_seconds``, then ``count`` visits. Returns the
    seconds the visits took and, per part, its CPU per visit in us: (rest taken off, with rest)."""
    idle_start, rest_started = part_cpu(stack), time.monotonic()
    time.sleep(idle_seconds)
    before = part_cpu(stack)
    # The parts' own CPU at rest (periodic jobs, scrapes, replication pings), taken off.
    idle_rate = {part: (before[part] - idle_start[part]) / (time.monotonic() - rest_started)
                 for part in PARTS}
    seconds = asyncio.run(visits(stack, codes, count, concurrency))
    after = part_cpu(stack)
    per_visit = {}
    for part in PARTS:
        used = after[part] - before[part]
        per_visit[part] = ((used - idle_rate[part] * seconds) / count * 1e6, used / count * 1e6)
    return seconds, per_visit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visits", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per app host")
    parser.add_argument("--idle-seconds", type=float, default=10.0,
                        help="before each run, how long the parts' CPU at rest is measured")
    args = parser.parse_args()
    stack = Stack.up(workers=args.workers, demo=True, extra_env={
        "OCCUPANCY_CHECK_INS_PER_ADDRESS": "0", "OCCUPANCY_CHECK_INS_PER_VENUE": "0"})
    try:
        codes = demo_codes(stack)
        asyncio.run(visits(stack, codes, 300, args.concurrency))  # warm: connections, caches
        net: dict[str, list[float]] = {part: [] for part in PARTS}
        for run in range(1, args.runs + 1):
            seconds, per_visit = measure(stack, codes, args.visits, args.concurrency,
                                         args.idle_seconds)
            for part, (us, _) in per_visit.items():
                net[part].append(us)
            print(f"run {run}: {args.visits} visits in {seconds:.1f} s "
                  f"({args.visits / seconds:.0f}/s); CPU per visit: " + ", ".join(
                      f"{part} {us:.0f} us ({gross:.0f} with rest)"
                      for part, (us, gross) in per_visit.items()), flush=True)
        print("median CPU per visit (check-in + check-out), rest taken off: " + ", ".join(
            f"{part} {statistics.median(values):.0f} us" for part, values in net.items()))
    finally:
        stack.down()


if __name__ == "__main__":
    main()
