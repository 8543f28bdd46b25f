"""Worker processes that each listen on their own SO_REUSEPORT socket.

uvicorn's workers share one listening socket, and the worker that wakes first accepts a whole
burst of new connections (uvloop accepts until the queue is empty). When a load generator or a
proxy opened its connection pool, one worker took nearly all of them while the other idled
(docs/benchmarks.md). With one SO_REUSEPORT socket per worker, the kernel spreads new
connections over the workers. uvicorn's supervisor (health checks, restarts, signals) is kept;
only which socket a worker gets changes: worker i, and whatever replaces it, gets socket i.
"""

import logging
import socket

import uvicorn
from uvicorn import Config
from uvicorn.supervisors.multiprocess import STARTUP_FAILURE, Multiprocess, Process

log = logging.getLogger("uvicorn.error")


def reuse_port_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets bound to one address (port 0: the port the kernel picks first)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets = []
    for _ in range(count):
        sock = socket.socket(family)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        port = sock.getsockname()[1]
        sock.set_inheritable(True)
        sockets.append(sock)
    return sockets


class OwnSocketWorkers(Multiprocess):
    """uvicorn's ``Multiprocess``, giving worker i (and its replacements) socket i alone."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets=[])
        self.per_worker = sockets

    def _new_process(self, idx: int) -> Process:
        process = Process(self.config, [self.per_worker[idx]])
        process.start()
        return process

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


def run(app: str, host: str, port: int, workers: int, **options) -> None:
    """Like ``uvicorn.run`` with an import string, each worker on its own socket."""
    if workers == 1:
        uvicorn.run(app, host=host, port=port, **options)
        return
    config = Config(app, host=host, port=port, workers=workers, **options)
    sockets = reuse_port_sockets(host, port, workers)
    log.info("Uvicorn running on http://%s:%d (%d workers, one socket each)", host,
             sockets[0].getsockname()[1], workers)
    OwnSocketWorkers(config, sockets).run()
