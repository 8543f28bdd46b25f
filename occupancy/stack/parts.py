"""How each host's programs are started inside its namespace, and stopped.

Every program runs in a session of its own (its pid is its process group: a host's workers go
with it) and is stopped only if it still runs in the stack's namespace, so a reused pid is never
signalled.
"""

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from occupancy.embedded_cluster import EmbeddedCluster
from occupancy.stack.layout import (
    APP_PORT,
    CONFIG_FILES,
    DEPLOY,
    POSTGRES_PORT,
    PROMETHEUS_PORT,
    REDIS_FIRST_PORT,
)
from occupancy.stack.network import Network

AS_POSTGRES = ("setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups")


def spawn(network: Network, host: str, argv: list[str], log: Path, env: dict | None = None,
          cwd: Path | None = None) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([*network.launcher(host), *argv], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=cwd, start_new_session=True)


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (an exiting process or a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def runs_in(pid: int, namespace_inode: int | None) -> bool:
    """Whether ``pid`` runs in the network namespace of that inode (so it is one of ours)."""
    try:
        return alive(pid) and os.stat(f"/proc/{pid}/ns/net").st_ino == namespace_inode
    except OSError:
        return False


def stop(pid: int, namespace_inode: int | None, first: signal.Signals = signal.SIGTERM,
         timeout: float = 30.0) -> None:
    """``first`` to the program (a postmaster: SIGINT, a fast shutdown), then SIGKILL to its
    whole process group if it is still there after ``timeout``."""
    if not runs_in(pid, namespace_inode):
        return
    try:
        if first == signal.SIGINT:
            os.kill(pid, first)
        else:
            os.killpg(pid, first)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        kill_group(pid)
        while alive(pid):  # gone within moments: its namespace is removed next
            time.sleep(0.05)


def kill_group(pid: int) -> None:
    """SIGKILL to a program and everything it started (a crashed host)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


# --- PostgreSQL: a private cluster of the machine's binaries, run as the postgres user ---------

def postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if not found:
        raise FileNotFoundError("no PostgreSQL server under /usr/lib/postgresql/*/bin")
    return found[-1].parent


def start_postgres(network: Network, root: Path) -> subprocess.Popen:
    """initdb with the compose file's user, password and database; listening on its address."""
    home, binaries = root / "postgres", postgres_bin()
    home.mkdir()
    (home / "run").mkdir()
    password = home / "password"
    password.write_text("occupancy\n")
    owner = pwd.getpwnam("postgres")
    for path in (home, home / "run", password):
        os.chown(path, owner.pw_uid, owner.pw_gid)
    subprocess.run([*AS_POSTGRES, str(binaries / "initdb"), "-D", str(home / "data"),
                    "-U", "occupancy", f"--pwfile={password}", "-E", "UTF8",
                    "--auth-local=trust", "--auth-host=scram-sha-256"],
                   check=True, capture_output=True, cwd=home)
    with open(home / "data" / "pg_hba.conf", "a") as hba:
        hba.write(f"host all all {network.subnet}.0/24 scram-sha-256\n")
    return spawn(network, "postgres",
                 [*AS_POSTGRES, str(binaries / "postgres"), "-D", str(home / "data"),
                  "-p", str(POSTGRES_PORT), "-k", str(home / "run"),
                  "-c", f"listen_addresses={network.address('postgres')}"],
                 root / "postgres.log", cwd=home)


def create_database(root: Path, timeout: float = 60.0) -> None:
    run_dir, binaries = root / "postgres" / "run", postgres_bin()
    deadline = time.monotonic() + timeout
    while subprocess.run([str(binaries / "pg_isready"), "-q", "-h", str(run_dir),
                          "-p", str(POSTGRES_PORT)]).returncode != 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"PostgreSQL did not start in {timeout:.0f} s: see {root}/postgres.log")
        time.sleep(0.1)
    subprocess.run([*AS_POSTGRES, str(binaries / "psql"), "-h", str(run_dir), "-p", str(POSTGRES_PORT),
                    "-U", "occupancy", "-d", "postgres", "-q", "-c", "CREATE DATABASE occupancy"],
                   check=True, capture_output=True, cwd=root / "postgres")


# --- Redis Cluster: three masters with a replica each, on the redis host ------------------------

def start_redis_cluster(network: Network, root: Path) -> EmbeddedCluster:
    return EmbeddedCluster(masters=3, replicas=1, host=network.address("redis"),
                           first_port=REDIS_FIRST_PORT, launcher=network.launcher("redis"),
                           root=root).start()


# --- the app hosts and the one-off steps run on them --------------------------------------------

def occupancy_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "occupancy.cli", *args]


def run_step(network: Network, env: dict, *args: str) -> str:
    """An operator command on app-a (as compose's migrate and metrics-token services)."""
    done = subprocess.run([*network.launcher("app-a"), *occupancy_command(*args)], env=env,
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"occupancy {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def start_app(network: Network, host: str, root: Path, env: dict, workers: int) -> subprocess.Popen:
    home = root / host
    home.mkdir(exist_ok=True)
    return spawn(network, host,
                 occupancy_command("serve", "--host", "0.0.0.0", "--port", str(APP_PORT),
                                   "--workers", str(workers), "--no-migrate"),
                 root / f"{host}.log", env=env, cwd=home)


# --- nginx with deploy/nginx.conf -----------------------------------------------------------------

NGINX_MAIN = """\
# The main configuration of the stack's balancer; the server blocks are the repo's deploy/nginx.conf.
daemon off;
worker_processes 1;
pid {home}/nginx.pid;
error_log {home}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {home}/temp/body;
    proxy_temp_path {home}/temp/proxy;
    fastcgi_temp_path {home}/temp/fastcgi;
    uwsgi_temp_path {home}/temp/uwsgi;
    scgi_temp_path {home}/temp/scgi;
    include {config};
}}
"""


def make_certificate(tls: Path) -> None:
    """A self-signed certificate, as compose's tls-cert service makes it."""
    tls.mkdir(parents=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "825",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(tls / "key.pem"), "-out", str(tls / "cert.pem")],
                   check=True, capture_output=True)


def start_nginx(network: Network, root: Path) -> subprocess.Popen:
    home = root / "nginx"
    (home / "temp").mkdir(parents=True)
    make_certificate(home / "tls")  # read as tls/ beside the main configuration
    main = home / "nginx.conf"
    main.write_text(NGINX_MAIN.format(home=home, config=DEPLOY / "nginx.conf"))
    return spawn(network, "nginx", ["nginx", "-e", str(home / "error.log"), "-p", f"{home}/",
                                    "-c", str(main)], root / "nginx.log")


# --- Prometheus with deploy/prometheus.yml --------------------------------------------------------

def start_prometheus(network: Network, root: Path, monitor_token: str) -> subprocess.Popen:
    """deploy/prometheus.yml, copied as it is beside the files it reads: the alerting rules
    (alerts.yml, the same file) and the token (tokens/metrics)."""
    home = root / "prometheus"
    (home / "tokens").mkdir(parents=True)
    for name, _ in CONFIG_FILES["prometheus"]:
        shutil.copyfile(DEPLOY / name, home / name)
    token = home / "tokens" / "metrics"
    token.touch(mode=0o600)
    token.write_text(monitor_token)
    return spawn(network, "prometheus",
                 ["prometheus", f"--config.file={home / 'prometheus.yml'}",
                  f"--storage.tsdb.path={home / 'data'}",
                  f"--web.listen-address=0.0.0.0:{PROMETHEUS_PORT}"],
                 root / "prometheus.log", cwd=home)
