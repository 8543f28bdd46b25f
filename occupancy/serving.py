"""Worker processes that each listen on their own SO_REUSEPORT socket.

uvicorn's workers share one listening socket, and the worker that wakes first accepts a whole
burst of new connections (uvloop accepts until the queue is empty). When a load generator or a
proxy opened its connection pool, one worker took nearly all of them while the other idled
(docs/benchmarks/history/2026-11.md). With one SO_REUSEPORT socket per worker, the kernel spreads new
connections over the workers. uvicorn's supervisor (health checks, restarts, signals) is kept;
only which socket a worker gets changes: worker i, and whatever replaces it, gets socket i.

Readiness: a worker listens only once its lifespan is done, so while some workers are still
starting, every new connection goes to the ones already up (a proxy opening its pool then
gave them all to the first worker). So each worker, once serving, marks itself ready in a
directory the supervisor made for this run (``worker-<i>`` holding its pid), and ``/readyz``
answers 200 only when every worker's mark names a live process (``workers_ready``). A worker
removes its mark as it begins to shut down; one that died leaves a mark naming a dead pid.
"""

import logging
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from prometheus_client import multiprocess
from uvicorn import Config, Server
from uvicorn.supervisors.multiprocess import STARTUP_FAILURE, Multiprocess, Process

from occupancy.kit.limits import RequestDeadline
from occupancy.settings import Settings, get_settings

log = logging.getLogger("uvicorn.error")

# Read by the workers' Settings (ready_dir, ready_workers).
READY_DIR_ENV = "OCCUPANCY_READY_DIR"
READY_WORKERS_ENV = "OCCUPANCY_READY_WORKERS"


def _mark(ready_dir: Path, index: int) -> Path:
    return ready_dir / f"worker-{index}"


def mark_ready(ready_dir: Path, index: int) -> None:
    tmp = ready_dir / f".worker-{index}.{os.getpid()}"
    tmp.write_text(str(os.getpid()))
    tmp.replace(_mark(ready_dir, index))  # atomic: a reader sees the old mark or the new one


def unmark_ready(ready_dir: Path, index: int) -> None:
    mark = _mark(ready_dir, index)
    try:
        if mark.read_text() == str(os.getpid()):  # not a replacement's mark
            mark.unlink()
    except OSError:
        pass


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel (a zombie still counts as alive then)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")  # a dead worker not reaped yet


def workers_ready(ready_dir: Path, workers: int) -> int:
    """How many of the run's ``workers`` are serving now."""
    ready = 0
    for index in range(workers):
        try:
            pid = int(_mark(ready_dir, index).read_text())
        except (OSError, ValueError):
            continue
        ready += _alive(pid)
    return ready


class ReadyMarkingServer(Server):
    """uvicorn's server, marking worker ``index`` ready once it serves, unmarked on shutdown."""

    def __init__(self, config: Config, index: int, ready_dir: Path) -> None:
        super().__init__(config)
        self.index = index
        self.ready_dir = ready_dir

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            mark_ready(self.ready_dir, self.index)
            log.info("Worker %d [%d] ready", self.index, os.getpid())

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # First, so that a balancer polling /readyz stops sending while requests drain.
        unmark_ready(self.ready_dir, self.index)
        await super().shutdown(sockets)


class WorkerProcess(Process):
    """A worker that knows its index and marks itself ready (``ReadyMarkingServer``)."""

    def __init__(self, config: Config, sockets: list[socket.socket], index: int,
                 ready_dir: Path) -> None:
        super().__init__(config, sockets)
        self.index = index
        self.ready_dir = ready_dir

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = ReadyMarkingServer(self.config, self.index, self.ready_dir)
        return self._server


# A peer gone without a word (a cable pulled, a phone out of range) is found by the kernel's TCP
# keep-alive, for no CPU of ours: the first probe after this long idle, then every KEEPALIVE_INTERVAL
# s, given up after KEEPALIVE_PROBES unanswered (about a minute in all, as uvicorn's WebSocket
# ping and its timeout took; that ping was a timer and a round trip in Python per socket).
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_PROBES = 30, 10, 3


def keep_alive(sock: socket.socket) -> None:
    """TCP keep-alive on ``sock``; Linux passes it on to every connection the socket accepts."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", KEEPALIVE_IDLE), ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
                        ("TCP_KEEPCNT", KEEPALIVE_PROBES)):
        if hasattr(socket, name):  # Linux; elsewhere the system's defaults
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


def reuse_port_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets bound to one address (port 0: the port the kernel picks first)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets = []
    for _ in range(count):
        sock = socket.socket(family)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        keep_alive(sock)
        sock.bind((host, port))
        port = sock.getsockname()[1]
        sock.set_inheritable(True)
        sockets.append(sock)
    return sockets


class OwnSocketWorkers(Multiprocess):
    """uvicorn's ``Multiprocess``, giving worker i (and its replacements) socket i alone."""

    def __init__(self, config: Config, sockets: list[socket.socket], ready_dir: Path) -> None:
        super().__init__(config, sockets=[])
        self.per_worker = sockets
        self.ready_dir = ready_dir

    def _new_process(self, idx: int) -> Process:
        process = WorkerProcess(self.config, [self.per_worker[idx]], idx, self.ready_dir)
        process.start()
        return process

    def _replace_socket(self, idx: int) -> None:
        """A new socket for a dead worker's replacement.

        The old one still listens (the parent holds it): until the replacement served, the
        kernel would keep queueing a share of the new connections there, with nobody to
        accept them. Closed, its waiting connections are reset (clients retry at once) and
        new ones go to the workers that are up.
        """
        old = self.per_worker[idx]
        host, port = old.getsockname()[:2]
        self.per_worker[idx] = reuse_port_sockets(host, port, 1)[0]
        old.close()

    def init_processes(self) -> None:
        self.processes = [self._new_process(idx) for idx in range(self.processes_num)]

    def keep_subprocess_alive(self) -> None:
        # As uvicorn's own, except that the replacement gets the dead worker's socket.
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error(f"Child process [{process.pid}] failed to start, stopping the parent process.")
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.info(f"Child process [{process.pid}] died")
            _forget_metrics_of(process.pid)
            self._replace_socket(idx)
            self.processes[idx] = self._new_process(idx)

    def restart_all(self) -> None:
        # SIGHUP: replace each worker in turn, the new one on the old one's socket.
        for idx, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._new_process(idx)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                log.error(f"New child process [{new.pid}] was not ready in time; aborting the restart.")
                return
            old.terminate()
            old.join()
            self.processes[idx] = new


def _forget_metrics_of(pid: int | None) -> None:
    """A dead worker's live gauges (its open sockets) leave the sums; its counters stay."""
    if pid is not None and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)


# How the service's workers serve (``occupancy serve``); the peak benchmark serves its bare
# endpoint with the same, so that the two differ only in what the app does per request.
UVICORN_OPTIONS = {
    "loop": "uvloop", "http": "httptools", "access_log": False, "timeout_graceful_shutdown": 20,
    # Compressing each frame for each socket was 7 % of a worker with 1,000 dashboards.
    "ws_per_message_deflate": False,
    # uvicorn's sans-I/O WebSocket protocol, letting live frames be written straight to sockets.
    "ws": "occupancy.live.wire:DirectFrameProtocol",
    # A worker still starting on a busy host answers the supervisor late: not hung
    # (importing the app took 12-14 s of a 2-core machine shared with other work).
    "timeout_worker_healthcheck": 60,
}


def limits(settings: Settings) -> dict:
    """uvicorn's options against slow and huge clients (occupancy.kit.limits)."""
    return {"http": RequestDeadline, "limit_concurrency": settings.max_connections_per_process,
            "proxy_headers": True, "forwarded_allow_ips": settings.trusted_proxies,
            "ws_max_size": settings.socket_max_message_bytes,
            # No WebSocket ping per socket: TCP keep-alive (keep_alive) finds dead peers, and
            # live.outbox.Sweep pages whose keep-alives stopped (a proxy between keeps the TCP
            # connection up); a ping per socket was a timer and a round trip in Python each.
            "ws_ping_interval": None,
            "h11_max_incomplete_event_size": 16384}


def run(app: str, host: str, port: int, workers: int, **options) -> None:
    """Like ``uvicorn.run`` with an import string, each worker on its own socket."""
    options = {**options, **limits(get_settings())}  # its protocol is httptools with a deadline
    if workers == 1:
        config = Config(app, host=host, port=port, **options)
        sock = config.bind_socket()
        keep_alive(sock)
        server = Server(config)
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass
        finally:
            sock.close()
        if not server.started:
            sys.exit(STARTUP_FAILURE)
        return
    config = Config(app, host=host, port=port, workers=workers, **options)
    sockets = reuse_port_sockets(host, port, workers)
    log.info("Uvicorn running on http://%s:%d (%d workers, one socket each)", host,
             sockets[0].getsockname()[1], workers)
    ready_dir = Path(tempfile.mkdtemp(prefix="occupancy-ready-"))
    # The workers are spawned: they read these from the environment they inherit.
    os.environ[READY_DIR_ENV] = str(ready_dir)
    os.environ[READY_WORKERS_ENV] = str(workers)
    try:
        OwnSocketWorkers(config, sockets, ready_dir).run()
    finally:
        shutil.rmtree(ready_dir, ignore_errors=True)
        for sock in sockets:
            sock.close()
