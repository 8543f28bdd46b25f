"""Network namespaces joined by one bridge: a namespace per host, at its own address.

The bridge lives in the machine's own namespace with the subnet's first address, so the machine
(a person's browser, the tests) reaches every host, and the hosts reach each other through it.
Each namespace's /etc/hosts names every host as docker-compose.yml does (``ip netns exec`` mounts
/etc/netns/<namespace>/hosts over /etc/hosts), so the deploy/ files work unchanged.
"""

import fcntl
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from occupancy.stack.layout import HOSTS

NETNS_ETC = Path("/etc/netns")
# Held while a stack picks its subnet and claims it, so that stacks started at once differ.
SUBNET_LOCK = Path("/run/occupancy-stack.lock")
SUBNETS = [f"10.77.{n}" for n in range(256)]


def ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


class NetworkError(RuntimeError):
    pass


def _subnets_in_use() -> set[str]:
    used = set()
    for line in ip("-o", "-4", "addr", "show").splitlines():
        address = line.split()[3].split("/")[0]
        used.add(address.rsplit(".", 1)[0])
    return used


@dataclass
class Network:
    name: str  # the unique prefix of every namespace and link of this stack (at most 8 characters)
    subnet: str  # "10.77.3": hosts at 10.77.3.<number of layout.HOSTS>, the machine at .1

    @property
    def bridge(self) -> str:
        return f"{self.name}-br"

    def namespace(self, host: str) -> str:
        return f"{self.name}-{host}"

    def address(self, host: str) -> str:
        return f"{self.subnet}.{HOSTS[host]}"

    @property
    def gateway(self) -> str:
        return f"{self.subnet}.1"

    def launcher(self, host: str) -> tuple[str, ...]:
        """The command prefix that runs a program on ``host``."""
        return ("ip", "netns", "exec", self.namespace(host))

    def hosts_file(self) -> str:
        lines = ["127.0.0.1 localhost", "::1 localhost"]
        lines += [f"{self.address(host)} {host}" for host in HOSTS]
        return "\n".join(lines) + "\n"

    @classmethod
    def create(cls, name: str) -> "Network":
        """A bridge on a subnet no other interface of the machine uses, and every host on it."""
        with open(SUBNET_LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            used = _subnets_in_use()
            subnet = next((s for s in SUBNETS if s not in used), None)
            if subnet is None:
                raise NetworkError("every subnet 10.77.0-255.0/24 is in use on this machine")
            network = cls(name, subnet)
            try:
                ip("link", "add", network.bridge, "type", "bridge")
                ip("addr", "add", f"{network.gateway}/24", "dev", network.bridge)
                ip("link", "set", network.bridge, "up")
            except BaseException:
                network.destroy()
                raise
        try:
            for index, host in enumerate(HOSTS):
                network._add_host(host, index)
        except BaseException:
            network.destroy()
            raise
        return network

    def _add_host(self, host: str, index: int) -> None:
        namespace, outside = self.namespace(host), f"{self.name}-{index}"
        etc = NETNS_ETC / namespace
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text(self.hosts_file())
        ip("netns", "add", namespace)
        ip("link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        ip("link", "set", outside, "master", self.bridge, "up")
        ip("-n", namespace, "link", "set", "lo", "up")
        ip("-n", namespace, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
        ip("-n", namespace, "link", "set", "eth0", "up")

    def namespace_inode(self, host: str) -> int | None:
        try:
            return Path(f"/run/netns/{self.namespace(host)}").stat().st_ino
        except OSError:
            return None

    def destroy(self) -> None:
        """Every namespace and link of this stack (the veth pairs go with their namespaces)."""
        existing = set(ip("netns", "list").split())
        for host in HOSTS:
            namespace = self.namespace(host)
            if namespace in existing:
                subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
            shutil.rmtree(NETNS_ETC / namespace, ignore_errors=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
