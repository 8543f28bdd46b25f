"""Peak benchmark: the durable check-in path under load, side by side with raw Redis.

    uv run --group loadtest python -m loadtest.peak.bench --duration 20 --runs 3

For each database (SQLite, then PostgreSQL) and each Redis (``--redis``: a single private server,
a private cluster of 3 masters, or both) it starts them, ``occupancy serve --workers 2`` and seeds
venues; then, for each configuration (1, 100, 10,000 loaded venues; 0, 1,000, 5,000 open
dashboards) and each repetition, wrk drives check-in + check-out for ``--duration`` seconds, the
invariants are checked at rest, and redis-benchmark calls the same check-in Lua script by EVALSHA
on the same Redis. After each repetition's configurations the same wrk load drives a bare FastAPI
endpoint with the check-in's body (loadtest/peak/bare.py, on the service's uvicorn options and
worker count): each row's "x bare" compares the service with it. One table of medians is printed;
a plot of the curves is written. Exits non-zero if any invariant broke in any run.
"""

import argparse
import asyncio
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from loadtest.peak import bookline, profile, report, stalls
from loadtest.peak.held import Holds, hold_places, not_held
from loadtest.peak.invariants import CapacitySampler, Verdict, check_at_rest, read_acks
from loadtest.peak.load import (
    RAW_VENUE,
    HttpLoad,
    check_out_leftovers,
    run_redis_benchmark,
    run_wrk,
)
from loadtest.peak.stack import (
    BareServer,
    BenchRedis,
    Database,
    SeededVenue,
    Server,
    access_token,
    cpu_seconds,
    seed_venues,
)
from occupancy import redis_keys as keys

PROBE_VENUES = 4  # more rounds: their p99 is less of a maximum
# The mix of check-ins only at venues run by slots with places held (loadtest/peak/held.py).
BOOKED = "booked"
# Which group of seeded venues each mix loads.
GROUP_OF_MIX = {"in+out": "bench", "in": "roomy", BOOKED: "held"}


@dataclass
class RunResult:
    database: str
    mix: str  # "in+out": check-in then check-out; "in": check-ins only; "booked": see BOOKED
    venues: int
    dashboards: int
    repetition: int
    check_ins_per_s: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    refusals: int
    errors: int
    statuses: str
    dash_opened: int | None
    dash_p50_ms: float | None
    dash_p99_ms: float | None
    fanout_p99_ms: float | None
    probe_http_p99_ms: float | None  # the probes' own check-in requests (part of dash above)
    probe_event_p50_ms: float | None  # a probe's own event in Redis to its screen (no HTTP)
    probe_event_p99_ms: float | None
    event_p50_ms: float | None  # event to screen, over every update of every dashboard
    event_p99_ms: float | None
    client_cpu_percent: float | None  # the dashboard client processes (the load generator's)
    kib_per_socket: float | None
    dash_note: str
    raw_redis_per_s: float
    raw_redis_pipelined_per_s: float
    ratio_to_raw: float
    invariants_ok: bool
    invariants: str
    rows_per_batch: float | None  # SQL writes per group-commit transaction (server metric)
    # From the server's histograms over the run, as bucket bounds: p99 and the worst bucket hit.
    loop_lag_p99_ms: float | None
    loop_lag_max_ms: float | None
    sql_batch_p99_ms: float | None
    sql_batch_max_ms: float | None
    # CPU time over the load (user + system, all threads) per HTTP request wrk made: what a
    # request costs the server's processes, and Redis, whatever else shares the machine.
    server_cpu_us_per_request: float | None = None
    redis_cpu_us_per_request: float | None = None
    # wrk and this process (the capacity sampler) over the load, % of one CPU: the load
    # generator's share of the machine (the dashboard clients: client_cpu_percent; with
    # --profile, py-spy is in it too).
    generator_cpu_percent: float | None = None
    redis: str = "single"  # or "cluster"
    # The bare endpoint under the same load (mix, connections, duration) in the same repetition.
    bare_requests_per_s: float | None = None
    bare_p50_ms: float | None = None
    bare_p99_ms: float | None = None
    bare_server_cpu_us_per_request: float | None = None


@dataclass
class BareLoad:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_us_per_request: float | None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20, help="seconds of load per run")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of load before each run")
    parser.add_argument("--runs", type=int, default=1, help="repetitions of every configuration")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--venues", default="1,100,10000", help="venue counts of the venue curve")
    parser.add_argument("--dashboards", default="0,1000,5000", help="dashboard counts of that curve")
    parser.add_argument("--displays-percent", type=int, default=0, choices=range(101),
                        metavar="0-100", help="share of the screens that are door displays")
    parser.add_argument("--dashboard-venues", type=int, default=100,
                        help="loaded venues while the dashboard curve is measured")
    parser.add_argument("--capacity", type=int, default=60, help="capacity of every seeded venue")
    parser.add_argument("--check-ins-only-venues", type=int, default=100,
                        help="also run check-ins only (no check-outs) on this many venues with room "
                             "for everyone (0: don't)")
    parser.add_argument("--booked-venues", type=int, default=0,
                        help="check-ins only at this many venues run by a slot under way with "
                             "places held for bookings (mix 'booked'), beside the plain ones")
    parser.add_argument("--book-line-venues", type=int, default=0,
                        help="after the check-in runs, the booking scenario at this many venues "
                             "and the line scenario at as many full venues twice (0: don't); "
                             "loadtest/peak/bookline.py")
    parser.add_argument("--redis", choices=("single", "cluster", "both"), default="single",
                        help="the service on one Redis, on a local Redis Cluster, or both in turn")
    parser.add_argument("--cluster-masters", type=int, default=3)
    parser.add_argument("--cluster-replicas", type=int, default=0,
                        help="replicas per master (with some, every change waits for one: WAIT)")
    parser.add_argument("--no-bare", action="store_true",
                        help="don't measure the bare FastAPI endpoint alongside")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the server, e.g. OCCUPANCY_VENUE_CACHE_SECONDS=300")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--raw-requests", type=int, default=200_000, help="redis-benchmark calls")
    parser.add_argument("--plot", default="docs/benchmarks.png", help="PNG of the curves ('' for none)")
    parser.add_argument("--json", default="", help="write every run's figures here")
    parser.add_argument("--profile", default="",
                        help="folder: py-spy samples one worker during each database's first run")
    parser.add_argument("--profile-dashboards", type=int, default=None, metavar="N",
                        help="with --profile: sample the run with N dashboards open instead")
    parser.add_argument("--stalls", default="",
                        help="folder: a thread in each worker writes what holds its event loop "
                             "over 40 ms (loadtest/peak/stallwatch); summed up at the end")
    parser.add_argument("--smoke", action="store_true",
                        help="a few seconds, small load, SQLite, no plot (the test suite runs this)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.duration, args.warmup, args.runs, args.databases = min(args.duration, 3), 1, 1, "sqlite"
        args.venues, args.dashboards, args.dashboard_venues = "10", "0", 10
        args.check_ins_only_venues = 0
        args.connections, args.raw_requests, args.plot = min(args.connections, 16), 5000, ""
        if args.booked_venues:  # the booked mix beside the plain check-ins-only one, nothing else
            args.booked_venues = args.check_ins_only_venues = min(args.booked_venues, 10)
            args.venues = args.dashboards = ""
    return args


def configurations(args: argparse.Namespace) -> list[tuple[str, int, int]]:
    """(mix, loaded venues, open dashboards) of each run."""
    venue_counts = [int(v) for v in args.venues.split(",") if v]
    dashboard_counts = [int(d) for d in args.dashboards.split(",") if d]
    configs = [("in+out", v, 0) for v in venue_counts]
    if 0 in dashboard_counts and ("in+out", args.dashboard_venues, 0) not in configs:
        configs.append(("in+out", args.dashboard_venues, 0))
    configs += [("in+out", args.dashboard_venues, d) for d in dashboard_counts if d]
    if args.check_ins_only_venues:
        configs.append(("in", args.check_ins_only_venues, 0))
    if args.booked_venues:
        configs.append((BOOKED, args.booked_venues, 0))
    return configs


def in_turn(configs: list[tuple[str, int, int]], repetition: int) -> list[tuple[str, int, int]]:
    """A repetition's configurations; the plain and booked check-ins-only runs swap places every
    other repetition, so that neither always runs on the larger visits table."""
    pair = [c for c in configs if c[0] in ("in", BOOKED)]
    if len(pair) < 2 or repetition % 2:
        return configs
    return [c for c in configs if c not in pair] + pair[::-1]


def check_ins_only(mix: str) -> bool:
    """Whether wrk only checks in (the "in" and "booked" mixes) or also out."""
    return mix != "in+out"


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.results: list[RunResult] = []
        self.notes: list[str] = []
        self._run_no = 0
        self._profiled: set[str] = set()
        self.monitor_token = ""  # issued per database: reads the server's /metrics
        self.holds: Holds | None = None  # the booked mix's held places, per database
        self.scenarios: list[tuple[str, bookline.Scenario]] = []  # (where, booking or line)

    def database(self, kind: str, redis_kind: str = "single", bare: BareServer | None = None) -> None:
        args = self.args
        configs = configurations(args)
        most = max((v for mix, v, _ in configs if mix == "in+out"), default=0)
        groups = {"bench": (most + PROBE_VENUES, args.capacity)}
        if args.check_ins_only_venues:
            groups["roomy"] = (args.check_ins_only_venues, 10**6)
        if args.booked_venues:
            groups["held"] = (args.booked_venues, 10**6)
        if args.book_line_venues:
            groups["bookable"] = (args.book_line_venues, 10**6)
            groups["lineleave"] = groups["lineclaim"] = (args.book_line_venues, bookline.LINE_CAPACITY)
        database = Database(kind, self.workdir).create()
        redis_server = BenchRedis(redis_kind, args.cluster_masters, args.cluster_replicas).start()
        server = None
        stall_dir = Path(args.stalls).resolve() / kind if args.stalls else None
        try:
            # The city exists before the server starts, as in production: each worker reads
            # every venue once at start-up (see VenueCache.load_all).
            seeded = asyncio.run(seed_venues(database.url, redis_server.url, groups,
                                             redis_server.cluster))
            token = asyncio.run(access_token(database.url, "official"))
            self.monitor_token = asyncio.run(access_token(database.url, "monitor"))
            extra = dict(item.split("=", 1) for item in args.server_env)
            if stall_dir:
                inherited = extra.get("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
                extra["PYTHONPATH"] = os.pathsep.join(p for p in (str(stalls.WATCH_DIR), inherited) if p)
                extra["OCCUPANCY_STALL_WATCH"] = str(stall_dir)
            server = Server(database.url, redis_server.url, self.workdir, args.workers, extra).start()
            if args.booked_venues:
                self.holds = asyncio.run(hold_places(server.url, database.url, seeded["held"]))
                print(f"  {kind}: {len(seeded['held'])} venues run by slot {self.holds.slot}, "
                      f"{self.holds.places} places held at each", flush=True)
            for repetition in range(1, args.runs + 1):
                runs = []
                for mix, n_venues, n_dashboards in in_turn(configs, repetition):
                    result = self.run(kind, mix, server, redis_server, database, seeded, token,
                                      n_venues, n_dashboards, repetition)
                    runs.append(result)
                    self.results.append(result)
                    print(report.progress_line(result), flush=True)
                if bare:  # one bare load per wrk mode: "booked" is compared with the "in" one
                    for only_in in dict.fromkeys(check_ins_only(r.mix) for r in runs):
                        self.compare_with_bare(bare, "in" if only_in else "in+out",
                                               [r for r in runs if check_ins_only(r.mix) == only_in])
            if args.book_line_venues:
                self.book_and_line(f"{kind}, {redis_kind} Redis", server, database, redis_server, seeded)
        finally:
            code = server.stop() if server else None
            if code not in (None, 0, -15):  # uvicorn re-raises SIGTERM after a graceful stop
                self.notes.append(f"{kind}: server exited with {code}; see {server.log_path}")
            redis_server.stop()
            database.drop()
            if stall_dir:
                self.notes.append(f"{kind}: " + stalls.summarize(stall_dir))

    def book_and_line(self, where: str, server: Server, database: Database,
                      redis_server: BenchRedis, seeded: dict[str, list[SeededVenue]]) -> None:
        """Issue 18's scenarios on the same server, after its check-in runs."""
        args, stores = self.args, (database.url, redis_server.url, redis_server.cluster)
        for scenario in (
            asyncio.run(bookline.booking(server.url, *stores, seeded["bookable"], args.duration,
                                         args.connections)),
            asyncio.run(bookline.line(server.url, *stores, seeded["lineleave"], seeded["lineclaim"],
                                      args.duration, args.connections)),
        ):
            self.scenarios.append((where, scenario))
            print("  " + scenario.summary(where), flush=True)

    def compare_with_bare(self, bare: BareServer, mix: str, runs: list[RunResult]) -> None:
        """The same wrk load on the bare endpoint, right after the service's runs of ``mix``."""
        args = self.args
        self._run_no += 1
        run_dir = self.workdir / f"run-{self._run_no}-bare"
        (run_dir / "warmup").mkdir(parents=True)
        (run_dir / "main").mkdir()
        venues_file = run_dir / "venues.txt"
        venues_file.write_text("bare-venue\n")
        if args.warmup > 0:
            run_wrk(bare.url, venues_file, run_dir / "warmup", args.warmup, args.threads,
                    args.connections, check_ins_only(mix))
        before = cpu_seconds(bare.pids())
        load = run_wrk(bare.url, venues_file, run_dir / "main", args.duration, args.threads,
                       args.connections, check_ins_only(mix))
        cpu = cpu_seconds(bare.pids()) - before
        figures = BareLoad(load.requests_per_s, load.p50_ms, load.p99_ms,
                           cpu / load.requests * 1e6 if load.requests else None)
        print(f"  bare FastAPI {mix}: {figures.requests_per_s:,.0f} req/s, p50 {figures.p50_ms:.1f} ms "
              f"p99 {figures.p99_ms:.1f} ms, server CPU {report._num(figures.server_cpu_us_per_request)} "
              f"us/request, {load.errors} errors", flush=True)
        for result in runs:
            result.bare_requests_per_s, result.bare_p50_ms, result.bare_p99_ms = (
                figures.requests_per_s, figures.p50_ms, figures.p99_ms)
            result.bare_server_cpu_us_per_request = figures.server_cpu_us_per_request

    def run(self, kind: str, mix: str, server: Server, redis_server: BenchRedis,
            database: Database, seeded: dict[str, list[SeededVenue]], token: str, n_venues: int,
            n_dashboards: int, repetition: int) -> RunResult:
        args = self.args
        self._run_no += 1
        run_dir = self.workdir / f"run-{self._run_no}"
        venues = [v for group in seeded.values() for v in group]
        probes = seeded["bench"][-PROBE_VENUES:]
        loaded = seeded[GROUP_OF_MIX[mix]][:n_venues]
        venues_file = run_dir / "venues.txt"
        (run_dir / "warmup").mkdir(parents=True)
        (run_dir / "main").mkdir()
        venues_file.write_text("\n".join(v.signed_code for v in loaded) + "\n")
        since = datetime.now(UTC)
        verdict = Verdict()

        if args.warmup > 0:
            run_wrk(server.url, venues_file, run_dir / "warmup", args.warmup, args.threads,
                    args.connections, check_ins_only(mix))
            self._empty_venues(server, run_dir / "warmup", mix)

        # The probes (two managers timing their own check-ins) run in every configuration; with
        # 0 dashboards theirs are the only sockets open.
        kib_per_socket = None
        time.sleep(1.0)  # as after opening them: let the warm-up's garbage go first
        rss_before = server.rss_bytes()
        dash, dash_note, ready = self._open_dashboards(server, token, loaded, probes, n_dashboards,
                                                       run_dir)
        if ready and ready["opened"]:
            kib_per_socket = (server.rss_bytes() - rss_before) / ready["opened"] / 1024

        sampler = CapacitySampler(redis_server.url, [v.id for v in loaded + probes], verdict,
                                  cluster=redis_server.cluster)
        sampler.start()
        for process in dash:
            process.stdin.write("GO\n")
            process.stdin.flush()
        profiler = None
        profiled = (kind, redis_server.kind)
        if args.profile and profiled not in self._profiled and profiles_this(args, n_dashboards):
            self._profiled.add(profiled)
            profiler = profile.start(
                server.worker_pids()[0], Path(args.profile),
                f"{kind}-{redis_server.kind}-{mix}-{n_venues}v-{n_dashboards}d", args.duration)
        cpu_pids = (server.pids(), redis_server.pids())
        try:
            metrics_before = server_metrics(server.url, self.monitor_token)
            cpu_before = [cpu_seconds(pids) for pids in cpu_pids]
            generator_before = _generator_cpu_seconds()
            load = run_wrk(server.url, venues_file, run_dir / "main", args.duration, args.threads,
                           args.connections, check_ins_only(mix))
        finally:
            sampler.stop()
            if profiler:
                self.notes.append(profile.finish(*profiler))
        cpu = [cpu_seconds(pids) - before for pids, before in zip(cpu_pids, cpu_before, strict=True)]
        generator_cpu = _generator_cpu_seconds() - generator_before
        during = server_metrics(server.url, self.monitor_token) - metrics_before
        dash_result = self._dashboard_results(dash) if dash else None
        if dash and dash_result is None:
            dash_note = "dashboard process gave no result"
        if mix == BOOKED and (lost := not_held(redis_server.url, redis_server.cluster, loaded,
                                               self.holds)):
            verdict.count_mismatch.append(f"{len(lost)} venues no longer hold their booked places")
        if dash_result and dash_result["stale_at_rest"]:  # an update lost on its way
            verdict.count_mismatch.append(
                f"{dash_result['stale_at_rest']} dashboards showed a wrong count at rest")

        time.sleep(1.0)  # let requests the load generator abandoned at its deadline finish
        capacities = {v.id: v.capacity for v in venues}
        asyncio.run(check_at_rest(database.url, redis_server.url, capacities, run_dir, since, verdict,
                                  cluster=redis_server.cluster))
        self._empty_venues(server, run_dir, mix)
        # On a cluster: the master holding the raw venue's slot (its keys share one hash tag).
        raw = run_redis_benchmark(redis_server.port_of(keys.count(RAW_VENUE)), args.raw_requests,
                                  args.connections)
        self.commands = {"wrk": load.command, "redis-benchmark": raw.command}
        result = self._result(kind, mix, n_venues, n_dashboards, repetition, load, raw, verdict,
                              dash_result, dash_note, kib_per_socket, during)
        if load.requests:
            result.server_cpu_us_per_request, result.redis_cpu_us_per_request = (
                seconds / load.requests * 1e6 for seconds in cpu)
        result.generator_cpu_percent = generator_cpu / load.seconds * 100
        result.redis = redis_server.kind
        return result

    def _empty_venues(self, server: Server, ack_dir: Path, mix: str) -> None:
        """Check out who the load left inside, so that the next load starts with empty venues."""
        if not check_ins_only(mix) and (failed := check_out_leftovers(server.url, *read_acks(ack_dir))):
            self.notes.append(f"{failed} parties left inside ({ack_dir.name}) could not check out")
        # Check-ins answered after wrk stopped listening have tickets nobody knows: the app's own
        # auto check-out (pretending their stay is over) ends those visits too.
        server.expire_everyone()

    def _open_dashboards(self, server, token, loaded, probes, count, run_dir):
        """The N dashboards in one process, the probes in another: a client process busy
        reading thousands of frames would delay the probes' own frames and be timed as the
        server's delay. Returns the processes (probes first), a note, and what opened."""
        def start(probe_list: str, n: int, acks: str, source: str | None = None):
            command = [sys.executable, "-m", "loadtest.peak.dashboards", "--http", server.url,
                       "--token", token,
                       "--venues", ",".join(f"{v.id}:{v.signed_code}" for v in loaded),
                       "--displays-percent", str(self.args.displays_percent),
                       "--probes", probe_list, "--count", str(n),
                       "--duration", str(self.args.duration), "--acks", str(run_dir / "main" / acks)]
            command += ["--source", source] if source else []
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       text=True, cwd=Path(__file__).resolve().parents[2])
            line = process.stdout.readline().strip()
            if line.startswith("READY "):
                return process, json.loads(line[6:]), ""
            process.wait(timeout=30)
            return None, None, line.removeprefix("UNAVAILABLE ") or "dashboard process exited"

        processes, opened, failed = [], 0, 0
        jobs = [*mass_jobs(count),  # the mass first: it takes longest
                (",".join(f"{v.id}:{v.signed_code}" for v in probes), 0, "acks-dashboards.txt", None)]
        for probe_list, n, acks, source in jobs:
            process, ready, reason = start(probe_list, n, acks, source)
            if process is None:
                for started in processes:
                    started.kill()
                return [], f"not measured: the socket backend did not accept dashboards ({reason})", None
            processes.append(process)
            opened, failed = opened + ready["opened"], failed + ready["failed"]
        time.sleep(1.0)  # let the server settle before reading its memory
        processes.reverse()  # probes first
        return processes, f"{opened} opened, {failed} failed", {"opened": opened, "failed": failed}

    @classmethod
    def _dashboard_results(cls, processes) -> dict | None:
        """The probes' delays, and the other process's count of sockets still open at the end."""
        results = [cls._dashboard_result(p) for p in processes]
        if any(r is None for r in results):
            return None
        probes, *mass = results
        probes["cpu_percent"] = sum(r["cpu_percent"] for r in results)
        probes["stale_at_rest"] = sum(r["stale_at_rest"] for r in results)
        if mass:
            probes.update(combine_mass(mass))
        return probes

    @staticmethod
    def _dashboard_result(process) -> dict | None:
        try:
            out, _ = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            return None
        for line in out.splitlines():
            if line.startswith("RESULT "):
                return json.loads(line[7:])
        return None

    @staticmethod
    def _result(kind, mix, n_venues, n_dashboards, repetition, load: HttpLoad, raw, verdict: Verdict,
                dash: dict | None, dash_note: str, kib_per_socket, server: "ServerMetrics") -> RunResult:
        batches = server.get("occupancy_sql_batches_total", 0.0)
        loop_lag = server.bucket_bounds_ms("occupancy_event_loop_lag_seconds")
        sql_batch = server.bucket_bounds_ms("occupancy_sql_batch_seconds")
        return RunResult(
            database=kind, mix=mix, venues=n_venues, dashboards=n_dashboards, repetition=repetition,
            check_ins_per_s=load.check_ins_per_s, requests_per_s=load.requests_per_s,
            p50_ms=load.p50_ms, p99_ms=load.p99_ms, refusals=load.refusals, errors=load.errors,
            statuses=load.statuses,
            dash_opened=dash["still_open"] if dash else None,
            dash_p50_ms=dash["p50_ms"] if dash else None,
            dash_p99_ms=dash["p99_ms"] if dash else None,
            fanout_p99_ms=dash["fanout_p99_ms"] if dash else None,
            probe_http_p99_ms=dash["http_p99_ms"] if dash else None,
            probe_event_p50_ms=dash["own_event_p50_ms"] if dash else None,
            probe_event_p99_ms=dash["own_event_p99_ms"] if dash else None,
            event_p50_ms=dash["event_p50_ms"] if dash else None,
            event_p99_ms=dash["event_p99_ms"] if dash else None,
            client_cpu_percent=dash["cpu_percent"] if dash else None,
            kib_per_socket=kib_per_socket, dash_note=dash_note,
            raw_redis_per_s=raw.evalsha_per_s, raw_redis_pipelined_per_s=raw.pipelined_per_s,
            ratio_to_raw=load.check_ins_per_s / raw.evalsha_per_s,
            invariants_ok=verdict.ok, invariants=verdict.summary(),
            rows_per_batch=server.get("occupancy_sql_batch_rows_total", 0.0) / batches if batches else None,
            loop_lag_p99_ms=loop_lag[0], loop_lag_max_ms=loop_lag[1],
            sql_batch_p99_ms=sql_batch[0], sql_batch_max_ms=sql_batch[1],
        )


# One client process holds at most this many screens: a process may not open more than
# RLIMIT_NOFILE files, and one loop reading every frame would be the bottleneck, not the server.
SCREENS_PER_CLIENT = 5000


def profiles_this(args: argparse.Namespace, n_dashboards: int) -> bool:
    """Whether --profile samples this run (each database's first, or the one --profile-dashboards names)."""
    return args.profile_dashboards is None or args.profile_dashboards == n_dashboards


def mass_jobs(count: int) -> list[tuple[str, int, str, str]]:
    """(probes, screens, acks file, source address) of each client process of the mass: each
    on its own 127.0.0.x, so that 20,000 sockets and more never run short of ephemeral ports."""
    sizes = [SCREENS_PER_CLIENT] * (count // SCREENS_PER_CLIENT)
    sizes += [count % SCREENS_PER_CLIENT] if count % SCREENS_PER_CLIENT else []
    return [("", n, f"acks-mass-{i}.txt", f"127.0.0.{2 + i}") for i, n in enumerate(sizes)]


def combine_mass(results: list[dict]) -> dict:
    """The mass's figures over its processes: the sockets still open added up; of the latencies
    (percentiles of separate lists do not merge) the worst process's."""
    framed = [r for r in results if r["event_frames"]]
    combined = {"still_open": sum(r["still_open"] for r in results),
                "fanout_p99_ms": max((r["fanout_p99_ms"] for r in results
                                      if r["fanout_p99_ms"] is not None), default=None)}
    if framed:  # the probes' own frames are few beside these
        combined["event_p50_ms"] = max(r["event_p50_ms"] for r in framed)
        combined["event_p99_ms"] = max(r["event_p99_ms"] for r in framed)
    return combined


def raise_open_files(wanted: int = 65536) -> None:
    """Thousands of sockets per process, inherited by the server and the clients: as root the
    hard limit itself may be raised (up to fs.nr_open)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, wanted), max(hard, wanted)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _generator_cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its children waited for (wrk)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class ServerMetrics(dict):
    """Counters and histogram buckets of the server's /metrics (every worker added up)."""

    def __sub__(self, other: "ServerMetrics") -> "ServerMetrics":
        return ServerMetrics({k: v - other.get(k, 0.0) for k, v in self.items()})

    def bucket_bounds_ms(self, histogram: str) -> tuple[float | None, float | None]:
        """(p99, worst) of a histogram's observations, each as its bucket's upper bound in ms."""
        buckets = sorted((float(k.split('le="')[1].rstrip('"}')), v) for k, v in self.items()
                         if k.startswith(histogram + "_bucket") and "+Inf" not in k)
        total = self.get(histogram + "_count", 0.0)
        if not total:
            return None, None
        p99 = next((le for le, n in buckets if n >= 0.99 * total), float("inf"))
        worst = next((le for le, n in buckets if n >= total), float("inf"))
        return p99 * 1000, worst * 1000


def server_metrics(url: str, token: str) -> ServerMetrics:
    answer = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    answer.raise_for_status()
    text = answer.text
    values = ServerMetrics()
    for line in text.splitlines():
        if line.startswith(("occupancy_sql_batch", "occupancy_event_loop_lag")):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "?")
    mem_kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal")))
    load = os.getloadavg()
    return (f"{os.cpu_count()} CPUs ({model}), {mem_kib / 1024 / 1024:.0f} GiB RAM, "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_open_files()
    command = "uv run --group loadtest python -m loadtest.peak.bench " + shlex.join(
        argv if argv is not None else sys.argv[1:])
    started = datetime.now(UTC)
    print(f"# {command}\n# {started:%Y-%m-%d %H:%M} UTC, {machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="occ-bench-") as tmp:
        bench = Bench(args, Path(tmp))
        bare = None
        if not args.no_bare:
            # Its own workers, idle while the service is measured; the service's settings.
            bare = BareServer(f"sqlite+aiosqlite:///{Path(tmp) / 'bare.db'}", "", Path(tmp),
                              args.workers, log_name="bare.log").start()
        redis_kinds = ("single", "cluster") if args.redis == "both" else (args.redis,)
        failed = []
        try:
            for kind in args.databases.split(","):
                for redis_kind in redis_kinds:
                    try:
                        bench.database(kind, redis_kind, bare)
                    except Exception as exc:  # the other blocks' figures are still worth printing
                        traceback.print_exc()
                        failed.append(f"{kind} on {redis_kind} Redis failed: {exc!r}"[:500])
        finally:
            if bare:
                bare.stop()
        print()
        print(report.table(bench.results))
        for line in report.booking_cost(bench.results):
            print(line)
        for where, scenario in bench.scenarios:
            print(scenario.summary(where))
        print(f"\ncommand: {command}")
        for name, line in getattr(bench, "commands", {}).items():
            print(f"{name} (last run): {line}")
        print(f"finished {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}")
        for note in bench.notes:
            print(f"note: {note}")
        for failure in failed:
            print(f"FAILED: {failure}")
        broken = [r for r in bench.results if not r.invariants_ok]
        for r in broken:
            print(f"INVARIANT BROKEN ({r.database}, {r.redis} Redis, {r.mix}, {r.venues} venues, "
                  f"{r.dashboards} dashboards, run {r.repetition}): {r.invariants}")
        if not broken:
            print(f"invariants: checked in all {len(bench.results)} runs, none broken "
                  "(capacity sampled during load and at rest; live = open visits in SQL; "
                  "every acknowledged check-in/out in SQL)")
        if args.json:
            Path(args.json).write_text(json.dumps(
                {"command": command, "started": started.isoformat(), "machine": machine(),
                 "runs": [asdict(r) for r in bench.results]}, indent=1))
        if args.plot:
            report.plot(bench.results, Path(args.plot), title=f"{started:%Y-%m-%d}, {os.cpu_count()} CPUs")
            print(f"plot: {args.plot}")
    broken_scenarios = [s for _, s in bench.scenarios if not s.ok]
    return 1 if broken or broken_scenarios or failed or not bench.results else 0


if __name__ == "__main__":
    sys.exit(main())
