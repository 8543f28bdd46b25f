"""A private, real Redis (Valkey) Cluster: for tests, drills and the several-host stack.

On loopback by default; the stack (occupancy/stack/) starts it on its own address inside a
network namespace (``host``, ``ports``, and ``launcher``, the command that enters the namespace).

Starts ``masters * (1 + replicas)`` cluster-enabled servers, joins them with ``valkey-cli
--cluster create`` (or ``redis-cli``), and waits until every node reports the cluster ready.
Nodes keep their cluster configuration in their own folder, so a node that was killed can be
started again and rejoins (as a replica of the master that replaced it).
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from occupancy.embedded_redis import find_server_binary, free_port

# How long a master may be silent before its replica takes over. Short: failovers in drills take
# a couple of seconds instead of Redis's default 15.
NODE_TIMEOUT_MS = 1000


def find_cli_binary() -> str:
    server = Path(find_server_binary())
    for candidate in (server.with_name("valkey-cli"), server.with_name("redis-cli")):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    for name in ("valkey-cli", "redis-cli"):
        if path := shutil.which(name):
            return path
    raise RuntimeError("No valkey-cli or redis-cli found to create a cluster.")


def _ask(host: str, port: int, command: bytes, timeout: float = 0.5) -> bytes:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(command)
        return sock.recv(65536)


class Node:
    def __init__(self, root: Path, host: str = "127.0.0.1", port: int | None = None,
                 launcher: tuple[str, ...] = (), node_timeout_ms: int = NODE_TIMEOUT_MS) -> None:
        self.host = host
        self.node_timeout_ms = node_timeout_ms
        self.port = port or free_port()
        # not port + 10000: that may be past 65535
        self.bus_port = port + 10000 if port and port < 55535 else free_port()
        self.launcher = launcher
        self.dir = root / f"node-{self.port}"
        self.dir.mkdir()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        args = [
            *self.launcher,
            find_server_binary(), "--port", str(self.port), "--bind", self.host,
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-port", str(self.bus_port),
            "--cluster-node-timeout", str(self.node_timeout_ms),
            "--save", "", "--appendonly", "no", "--dir", str(self.dir),
            # a replica syncs at once rather than after the default 5 s wait for others
            "--repl-diskless-sync-delay", "0",
            "--daemonize", "no", "--loglevel", "notice",
            # On a private network's address (the stack's namespaces), without a password
            *(("--protected-mode", "no") if self.host != "127.0.0.1" else ()),
        ]
        with open(self.dir / "redis.log", "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=log,
                                            process_group=0)

    def answers(self) -> bool:
        try:
            return _ask(self.host, self.port, b"PING\r\n", 0.2).startswith(b"+PONG")
        except OSError:
            return False

    def cluster_ok(self) -> bool:
        try:
            return b"cluster_state:ok" in _ask(self.host, self.port, b"CLUSTER INFO\r\n")
        except OSError:
            return False

    def replica_in_sync(self) -> bool:
        try:
            return b"master_link_status:up" in _ask(self.host, self.port, b"INFO replication\r\n")
        except OSError:
            return False

    def role(self) -> str:
        # ROLE answers an array whose first element is "master", "slave" or "sentinel"
        first = _ask(self.host, self.port, b"ROLE\r\n").split(b"\r\n")[2]
        return "master" if first == b"master" else "replica"

    def kill(self) -> None:
        """SIGKILL: the node vanishes mid-whatever, as a crashed host would."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()


class EmbeddedCluster:
    """``start()``, ``stop()``; ``url`` names one node (the client discovers the rest)."""

    def __init__(self, masters: int = 3, replicas: int = 1, host: str = "127.0.0.1",
                 first_port: int | None = None, launcher: tuple[str, ...] = (),
                 root: Path | None = None, node_timeout_ms: int = NODE_TIMEOUT_MS) -> None:
        """``first_port``: nodes on it and the ports after it (else free ports of loopback);
        ``launcher``: a command prefix each server runs under (``ip netns exec <name>``);
        ``node_timeout_ms``: how long a silent master is tolerated (short for failover drills;
        Redis's default 15 s for benchmarks, where a busy machine may stall a node a second)."""
        self.root = Path(tempfile.mkdtemp(prefix="occupancy-cluster-", dir=root))
        self.masters = masters
        self.replicas = replicas
        self.host = host
        count = masters * (1 + replicas)
        ports = [first_port + i for i in range(count)] if first_port else [None] * count
        self.nodes = [Node(self.root, host, port, launcher, node_timeout_ms) for port in ports]

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.nodes[0].port}/0"

    def start(self, timeout: float = 30.0) -> "EmbeddedCluster":
        try:
            for node in self.nodes:
                node.start()
            self._wait(lambda: all(node.answers() for node in self.nodes), timeout, "start")
            subprocess.run(
                [find_cli_binary(), "--cluster", "create",
                 *(f"{self.host}:{node.port}" for node in self.nodes),
                 "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                check=True, capture_output=True, timeout=timeout)
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until every running node says the cluster is ok and has its masters and replicas."""
        def ready() -> bool:
            live = [node for node in self.nodes if node.process and node.process.poll() is None]
            if not all(node.cluster_ok() for node in live):
                return False
            replicas = [node for node in live if node.role() == "replica"]
            return (len(live) - len(replicas) == self.masters
                    and all(node.replica_in_sync() for node in replicas))
        self._wait(ready, timeout, "become ready")

    def master_nodes(self) -> list[Node]:
        return [node for node in self.nodes
                if node.process and node.process.poll() is None and node.role() == "master"]

    def node_at(self, port: int) -> Node:
        return next(node for node in self.nodes if node.port == port)

    @staticmethod
    def _wait(condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        raise RuntimeError(f"the Redis cluster did not {what} in {timeout:.0f} s")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "EmbeddedCluster":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
