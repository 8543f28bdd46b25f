"""The stack as a whole: ``Stack.up()`` builds the network and starts every host in order,
``Stack.down()`` stops them and removes the namespaces and the stack's folder. What ran is kept
in the folder's state.json, so that ``occupancy stack down`` in another process finds it."""

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from occupancy.privacy.sealing import new_key_pair
from occupancy.stack import parts
from occupancy.stack.layout import (
    APP_ENV,
    APP_HOSTS,
    APP_PORT,
    HTTP_PORT,
    HTTPS_PORT,
    POSTGRES_PORT,
    PROMETHEUS_PORT,
    REDIS_FIRST_PORT,
)
from occupancy.stack.network import Network

STATE_GLOB = "occupancy-stack-*/state.json"
# In the order they are stopped: nothing new comes in, then the apps drain, then their stores go.
STOP_ORDER = ("nginx", "prometheus", *APP_HOSTS, "redis", "postgres")


def stacks_root() -> Path:
    return Path(tempfile.gettempdir())


@dataclass
class Stack:
    network: Network
    root: Path  # the stack's folder: logs, data, certificates, keys
    env: dict[str, str]  # the app hosts' settings
    pids: dict[str, list[int]] = field(default_factory=dict)  # host -> programs it runs
    processes: list[subprocess.Popen] = field(default_factory=list)  # reaped by this process
    operator_token: str = ""
    demo_lines: list[str] = field(default_factory=list)  # what seeding the demo city printed

    # --- addresses, as the machine reaches them ---------------------------------------------

    @property
    def name(self) -> str:
        return self.network.name

    def address(self, host: str) -> str:
        return self.network.address(host)

    @property
    def balancer_url(self) -> str:
        return f"https://{self.address('nginx')}:{HTTPS_PORT}"

    def app_url(self, host: str) -> str:
        return f"http://{self.address(host)}:{APP_PORT}"

    @property
    def prometheus_url(self) -> str:
        return f"http://{self.address('prometheus')}:{PROMETHEUS_PORT}"

    @property
    def redis_url(self) -> str:
        return f"redis://{self.address('redis')}:{REDIS_FIRST_PORT}/0"

    @property
    def database_url(self) -> str:
        return (f"postgresql+asyncpg://occupancy:occupancy@{self.address('postgres')}:"
                f"{POSTGRES_PORT}/occupancy")

    # --- up ------------------------------------------------------------------------------------

    @classmethod
    def up(cls, workers: int = 1, secret_key: str | None = None,
           extra_env: dict[str, str] | None = None, demo: bool = False,
           timeout: float = 180.0) -> "Stack":
        """Build and start everything; on any failure, tear down what was started and raise."""
        name = "occ" + secrets.token_hex(3)
        root = Path(tempfile.mkdtemp(prefix=f"occupancy-stack-{name}-", dir=stacks_root()))
        root.chmod(0o755)  # the postgres user reaches its folder inside
        stack = None
        try:
            network = Network.create(name)
            stack = cls(network, root, {})
            stack.save()
            stack._start(workers, secret_key or secrets.token_urlsafe(32), extra_env or {},
                         demo, timeout)
        except BaseException:
            if stack:
                stack.down()
            else:
                shutil.rmtree(root, ignore_errors=True)
            raise
        return stack

    def _start(self, workers: int, secret_key: str, extra_env: dict[str, str], demo: bool,
               timeout: float) -> None:
        deadline = time.monotonic() + timeout
        public_key, private_key = new_key_pair()
        key_file = self.root / "health-office.key"
        key_file.touch(mode=0o600)
        key_file.write_text(private_key + "\n")
        # The machine's environment without its own occupancy settings, then the stack's.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OCCUPANCY_")}
        self.env.update(APP_ENV, OCCUPANCY_SECRET_KEY=secret_key,
                        OCCUPANCY_HEALTH_OFFICE_PUBLIC_KEY=public_key,
                        OCCUPANCY_PUBLIC_URL=self.balancer_url)
        self.env.update(extra_env)
        settings = self.root / "app.env"  # for operator commands on a host, by hand
        settings.touch(mode=0o600)
        settings.write_text("".join(f"{k}={v}\n" for k, v in self.env.items()
                                    if k.startswith("OCCUPANCY_")))

        self._track("postgres", parts.start_postgres(self.network, self.root))
        cluster = parts.start_redis_cluster(self.network, self.root)
        self.processes += [node.process for node in cluster.nodes]
        self.pids["redis"] = [node.process.pid for node in cluster.nodes]
        self.save()
        parts.create_database(self.root, deadline - time.monotonic())

        # compose's one-off services: migrate, then metrics-token (a fresh Redis: no writes in
        # flight, so the first rebuild need not wait for any).
        steps_env = {**self.env, "OCCUPANCY_REBUILD_GRACE_SECONDS": "0"}
        parts.run_step(self.network, steps_env, "db", "upgrade")
        monitor_token = parts.run_step(self.network, steps_env, "token", "issue", "monitor",
                                       "--label", "prometheus").strip()
        self.operator_token = parts.run_step(self.network, steps_env, "token", "issue", "operator",
                                             "--label", "stack up").strip()
        if demo:
            self.demo_lines = parts.run_step(self.network, steps_env, "demo",
                                             "--no-migrate").splitlines()
        for host in APP_HOSTS:
            self._track(host, parts.start_app(self.network, host, self.root, self.env, workers))
        self._track("nginx", parts.start_nginx(self.network, self.root))
        self._track("prometheus", parts.start_prometheus(self.network, self.root, monitor_token))
        with ThreadPoolExecutor() as pool:
            waits = [pool.submit(self.wait_ready, host, deadline) for host in APP_HOSTS]
            for wait in waits:
                wait.result()
        self._wait(lambda: self._answers(f"{self.balancer_url}/readyz"), deadline, "nginx")
        self._wait(self._prometheus_scrapes_both, deadline, "prometheus")

    def _track(self, host: str, process: subprocess.Popen) -> None:
        self.processes.append(process)
        self.pids[host] = [process.pid]
        self.save()

    # --- waiting ----------------------------------------------------------------------------------

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            return httpx.get(url, timeout=2, verify=False).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, host: str, deadline: float) -> None:
        self._wait(lambda: self._answers(f"{self.app_url(host)}/readyz"), deadline, host)

    def _prometheus_scrapes_both(self) -> bool:
        try:
            answer = httpx.get(f"{self.prometheus_url}/api/v1/query", params={"query": "up == 1"},
                               timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return False
        return len(answer.get("data", {}).get("result", [])) == len(APP_HOSTS)

    def _wait(self, condition, deadline: float, host: str) -> None:
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{host} of stack {self.name} was not ready in time: see "
                                   f"{self.root}/{host}.log")
            for process in self.processes:
                process.poll()  # reap what exited
            time.sleep(0.2)

    # --- faults and teardown ----------------------------------------------------------------------

    def kill(self, host: str) -> None:
        """SIGKILL a host's programs and all they started, as a host that lost power."""
        for pid in self.pids.get(host, []):
            if parts.runs_in(pid, self.network.namespace_inode(host)):
                parts.kill_group(pid)
        for process in self.processes:
            process.poll()

    def down(self) -> None:
        """Stop every program, remove the namespaces, the bridge and the folder (all of them
        even if one step fails; the first failure is raised at the end)."""
        failures: list[BaseException] = []
        for host in STOP_ORDER:
            inode = self.network.namespace_inode(host)
            first = signal.SIGINT if host == "postgres" else signal.SIGTERM
            with ThreadPoolExecutor() as pool:
                stops = [pool.submit(parts.stop, pid, inode, first)
                         for pid in self.pids.get(host, [])]
                failures += [e for e in (stopped.exception() for stopped in stops) if e]
        for process in self.processes:
            process.poll()
        try:
            self.network.destroy()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
        if failures:
            raise failures[0]

    # --- state, for `occupancy stack down` in another process ------------------------------------

    def save(self) -> None:
        state = {"name": self.name, "subnet": self.network.subnet, "pids": self.pids}
        (self.root / "state.json").write_text(json.dumps(state))

    @classmethod
    def load(cls, state_file: Path) -> "Stack":
        state = json.loads(state_file.read_text())
        return cls(Network(state["name"], state["subnet"]), state_file.parent, {},
                   pids=state["pids"])

    @classmethod
    def running(cls) -> list["Stack"]:
        return [cls.load(path) for path in sorted(stacks_root().glob(STATE_GLOB))]

    def describe(self) -> list[str]:
        return [
            f"stack {self.name} on {self.network.subnet}.0/24 (folder {self.root})",
            f"  balancer (nginx)  {self.balancer_url}/   (self-signed certificate; "
            f"http://{self.address('nginx')}:{HTTP_PORT} redirects there)",
            *(f"  {host:<17} {self.app_url(host)}" for host in APP_HOSTS),
            f"  prometheus        {self.prometheus_url}",
            f"  redis cluster     {self.redis_url}",
            f"  postgresql        {self.database_url}",
            f"  health office key {self.root / 'health-office.key'}",
            f"  logs              {self.root}/<host>.log",
        ]
