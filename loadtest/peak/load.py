"""Load generators: wrk driving the HTTP API, redis-benchmark driving the same Lua script raw."""

import asyncio
import json
import re
import shlex
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import redis

from occupancy import redis_keys as keys
from occupancy.kit.scripts import Script
from occupancy.visits.capacity import CapacityStore

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "wrk_checkins.lua"
RAW_VENUE = 0  # a venue id no seeded venue has: raw calls never touch the benchmark's venues


@dataclass
class HttpLoad:
    seconds: float
    requests: int
    check_ins: int
    check_outs: int
    refusals: int
    errors: int
    p50_ms: float
    p99_ms: float
    statuses: str
    command: str

    @property
    def check_ins_per_s(self) -> float:
        return self.check_ins / self.seconds

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds


def require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise SystemExit(f"{tool} not found: install it with `apt-get install -y {package}`")
    return path


def run_wrk(url: str, venues_file: Path, ack_dir: Path, seconds: float, threads: int,
            connections: int, check_ins_only: bool = False) -> HttpLoad:
    """Check-in + check-out pairs (or check-ins only) for ``seconds``; every ack written down."""
    command = [require("wrk", "wrk"), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               "--timeout", "5s", "-s", str(WRK_SCRIPT), url, "--", str(venues_file), str(ack_dir),
               "in" if check_ins_only else "in+out"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    match = re.search(r"^WRK_JSON (.*)$", out.stdout, re.MULTILINE)
    if out.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    r = json.loads(match[1])
    return HttpLoad(
        seconds=r["duration_us"] / 1e6, requests=r["requests"], check_ins=r["checkins"],
        check_outs=r["checkouts"], refusals=r["full"],
        errors=r["http_errors"] + r["socket_errors"] + r["timeouts"],
        p50_ms=r["p50_us"] / 1000, p99_ms=r["p99_us"] / 1000, statuses=r["statuses"].strip(),
        command=" ".join(command),
    )


def check_out_leftovers(url: str, check_ins: dict[str, str], check_outs: set[str]) -> int:
    """Check out the parties a run left inside (wrk stops mid-visit), so the next run starts empty.

    Returns how many check-outs failed (other than already-ended visits)."""
    def check_out(ticket: str) -> bool:
        request = urllib.request.Request(f"{url}/api/tickets/{ticket}/check-out", method="POST", data=b"")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status == 200
        except urllib.error.HTTPError as exc:
            return exc.code == 409
        except OSError:
            return False

    tickets = [t for visit_id, t in check_ins.items() if visit_id not in check_outs]
    with ThreadPoolExecutor(16) as pool:
        return sum(not ok for ok in pool.map(check_out, tickets))


@dataclass
class RawRedis:
    evalsha_per_s: float
    pipelined_per_s: float
    command: str


class _Capture:
    """A stand-in script runner that keeps the call the app would make instead of making it."""

    async def run(self, script, keys, args):
        self.call = (script, keys, args)
        return [b"ok", 0, 0]


def checkin_call(venue_id: int, ticket_hash: str, visit_id: str) -> tuple[Script, tuple, tuple]:
    """The exact EVALSHA (script, keys, args) the app sends to admit a party of one."""
    capture = _Capture()
    asyncio.run(CapacityStore(capture).admit(venue_id, ticket_hash, 1, visit_id, time.time()))
    return capture.call


def run_redis_benchmark(redis_tcp_port: int, requests: int, connections: int) -> RawRedis:
    """The check-in script called by EVALSHA straight at Redis, with the keys and arguments the
    app sends (taken from CapacityStore.admit): each call admits a new party of one."""
    script, script_keys, script_args = checkin_call(RAW_VENUE, "__rand_int__", "visit__rand_int__")
    client = redis.Redis(host="127.0.0.1", port=redis_tcp_port)
    try:
        client.script_load(script.source)
        client.hset(keys.config(RAW_VENUE), mapping={"capacity": 10**12, "paused": "0"})
        client.set(keys.count(RAW_VENUE), 0)
        # __rand_int__ makes each ticket (and visit) new.
        command = ["EVALSHA", script.sha, str(len(script_keys)), *map(str, script_keys),
                   *map(str, script_args)]
        base = [require("redis-benchmark", "redis-tools"), "-h", "127.0.0.1", "-p", str(redis_tcp_port),
                "-c", str(connections), "-n", str(requests), "-r", "1000000000", "--csv"]
        unpipelined = _rps(subprocess.run([*base, *command], capture_output=True, text=True,
                                          timeout=300, check=True).stdout)
        pipelined = _rps(subprocess.run([*base, "-P", "16", *command], capture_output=True,
                                        text=True, timeout=300, check=True).stdout)
        return RawRedis(unpipelined, pipelined, shlex.join([*base, *command]))
    finally:
        batch = []
        for key in client.scan_iter(match=f"{keys.tag(RAW_VENUE)}*", count=10_000):
            batch.append(key)
            if len(batch) >= 10_000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)
        client.close()


def _rps(csv: str) -> float:
    # "test","rps","avg_latency_ms",...  then  "EVALSHA ...","35100.10",...
    for line in csv.splitlines()[1:]:
        cells = [c.strip('"') for c in line.split('","')]
        if len(cells) > 1:
            return float(cells[1])
    raise RuntimeError(f"no figure in redis-benchmark output: {csv!r}")
