"""The README's first command: `occupancy serve` on a fresh folder starts its own Redis and SQLite."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from occupancy.embedded_redis import free_port
from occupancy.venues import signing
from tests.conftest import ARTIFACTS, OFFICE_PUBLIC_KEY, SECRET, LiveServer, listening_sockets


def test_serve_with_no_configuration_starts_and_stops_its_own_redis(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCCUPANCY_")}
    env["OCCUPANCY_DEVELOPMENT"] = "1"  # what `serve --demo` sets (without seeding a city here)
    process = subprocess.Popen(
        [sys.executable, "-m", "occupancy.cli", "serve", "--port", str(port), "--workers", "1"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert ready.json() == {"ready": True, "redis": True, "sql": True}
        redis_children = subprocess.run(
            ["pgrep", "-P", str(process.pid), "-f", "server"], capture_output=True, text=True
        ).stdout.split()
        assert redis_children, "the private Redis runs as a child of serve"
        assert (tmp_path / "occupancy.db").exists(), "SQLite lives in the working folder"
        for sqlite_file in tmp_path.glob("occupancy.db*"):  # the database, its -wal and -shm
            assert sqlite_file.stat().st_mode & 0o777 == 0o600, sqlite_file
        # Development mode: personal data is sealed to a demo key pair kept beside it.
        demo_key = tmp_path / "occupancy-health-office-demo.key"
        assert demo_key.stat().st_mode & 0o777 == 0o600
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}" in output
    assert "demo key pair" in output
    for pid in redis_children:
        status = Path(f"/proc/{pid}/status")
        assert not status.exists() or "zombie" in status.read_text()


def test_the_quick_start_command_serves_a_demo_city(tmp_path):
    """The README's quick start, as a newcomer types it in an empty folder: `occupancy serve
    --demo`, then a check-in at one of the visitor URLs it prints."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCCUPANCY_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "occupancy.cli", "serve", "--demo", "--port", str(port),
         "--workers", "1"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    printed = []
    try:
        # The demo city is printed before the server says where it is.
        while not any(line.startswith("occupancy on http") for line in printed):
            line = process.stdout.readline()
            assert line, "".join(printed)
            printed.append(line)
        deadline = time.monotonic() + 120
        while (answer := _readyz(f"http://127.0.0.1:{port}")) is None or answer.status_code != 200:
            assert time.monotonic() < deadline, "not ready"
            time.sleep(0.2)
        url = re.findall(rf"(http://127\.0\.0\.1:{port}/v/\S+)", "".join(printed))[0]
        signed_code = url.rsplit("/", 1)[1]
        checked_in = httpx.post(f"http://127.0.0.1:{port}/api/venues/{signed_code}/check-ins",
                                json={"name": "Budi Santoso", "phone": "0812 3456 7890",
                                      "party_size": 2}, timeout=30)
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    output = "".join(printed) + rest
    assert process.returncode == 0, output
    assert checked_in.status_code == 201, checked_in.text
    assert "access tokens" in output and "demo accounts" in output


def test_serve_refuses_the_development_secret_outside_development_mode(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCCUPANCY_")}
    done = subprocess.run([sys.executable, "-m", "occupancy.cli", "serve", "--port",
                           str(free_port())], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert "OCCUPANCY_SECRET_KEY is the development default" in done.stderr
    assert "occupancy serve --demo" in done.stderr
    assert not (tmp_path / "occupancy.db").exists()  # refused before doing anything


def _workers(parent: int) -> list[int]:
    """The uvicorn worker processes of ``occupancy serve`` (spawned children)."""
    out = subprocess.run(["pgrep", "-P", str(parent), "-f", "spawn_main"],
                         capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def _readyz(url: str) -> httpx.Response | None:
    try:
        return httpx.get(f"{url}/readyz", timeout=1)
    except httpx.HTTPError:
        return None


async def test_readyz_is_ready_only_when_every_worker_is(settings):
    """Each worker listens on its own socket from the end of its start-up: a balancer told
    "ready" while one still started would send every new connection to the others."""
    server = LiveServer(settings, workers=2)  # its port and environment; polled here, not started
    ARTIFACTS.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "occupancy.cli", "serve", "--port", str(server.port),
               "--workers", "2"]
    with open(ARTIFACTS / f"server-{server.port}.log", "w") as log:
        process = subprocess.Popen(command, env=server.env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while (answer := _readyz(server.url)) is None or answer.status_code != 200:
            assert process.poll() is None and time.monotonic() < deadline, "never ready"
            if answer is not None:
                assert answer.status_code == 503
                assert answer.json()["workers"]["ready"] < 2
            time.sleep(0.02)
        assert listening_sockets(server.port) == 2, "ready before every worker listened"
        assert answer.json() == {"ready": True, "redis": True, "sql": True,
                                 "workers": {"ready": 2, "expected": 2}}

        # A worker killed: not ready until its replacement serves, then ready again.
        workers = _workers(process.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        seen_not_ready = False
        deadline = time.monotonic() + 120
        while True:
            assert time.monotonic() < deadline, "not ready again after a worker was replaced"
            answer = _readyz(server.url)
            if answer is not None and answer.status_code == 503:
                assert answer.json()["workers"] == {"ready": 1, "expected": 2}
                seen_not_ready = True
            elif answer is not None and answer.status_code == 200:
                if seen_not_ready:
                    break
                # Only possible if the answer came before the kill took effect.
                assert workers[0] in _workers(process.pid)
            time.sleep(0.05)
        assert listening_sockets(server.port) == 2
        assert workers[0] not in _workers(process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0


def test_the_embedded_redis_is_restarted_when_it_dies(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCCUPANCY_")}
    env["OCCUPANCY_SECRET_KEY"] = SECRET
    env["OCCUPANCY_HEALTH_OFFICE_PUBLIC_KEY"] = OFFICE_PUBLIC_KEY
    # Added before serve starts: a command run beside it would use a private Redis of its own.
    for command in (["db", "upgrade"], ["venue", "add", "door-1", "Door One", "50"]):
        subprocess.run([sys.executable, "-m", "occupancy.cli", *command], cwd=tmp_path, env=env,
                       check=True, capture_output=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "occupancy.cli", "serve", "--port", str(port), "--workers", "2"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while (answer := _readyz(url)) is None or answer.status_code != 200:
            assert process.poll() is None and time.monotonic() < deadline, "never ready"
            time.sleep(0.2)
        check_in = f"{url}/api/venues/{signing.sign(SECRET, 'door-1')}/check-ins"
        body = {"name": "Budi Santoso", "phone": "0812 3456 7890", "party_size": 1}
        assert httpx.post(check_in, json=body, timeout=10).status_code == 201

        [redis] = subprocess.run(["pgrep", "-P", str(process.pid), "-f", "server"],
                                 capture_output=True, text=True).stdout.split()
        os.kill(int(redis), signal.SIGKILL)
        killed = time.monotonic()
        while True:
            try:
                if httpx.post(check_in, json=body, timeout=5).status_code == 201:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() - killed < 10, "check-ins did not come back"
            time.sleep(0.1)
        [again] = subprocess.run(["pgrep", "-P", str(process.pid), "-f", "server"],
                                 capture_output=True, text=True).stdout.split()
        assert again != redis
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert f"embedded Redis (pid {redis}) exited" in output
    assert "embedded Redis restarted" in output


def _cli(tmp_path, env, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "occupancy.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_set_capacity_from_the_command_line_is_enforced_by_the_running_embedded_server(tmp_path):
    """The README's default: `occupancy serve` with its own Redis, and an operator changing the
    capacity from another terminal in the same folder. The command reaches the server's Redis
    (not a throwaway one of its own), so the very next check-in sees the new capacity."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCCUPANCY_")}
    env["OCCUPANCY_SECRET_KEY"] = SECRET
    env["OCCUPANCY_HEALTH_OFFICE_PUBLIC_KEY"] = OFFICE_PUBLIC_KEY
    _cli(tmp_path, env, "db", "upgrade")
    _cli(tmp_path, env, "venue", "add", "grand-mall", "Grand Mall", "20")
    code = signing.sign(SECRET, "grand-mall")
    process = subprocess.Popen(
        [sys.executable, "-m", "occupancy.cli", "serve", "--port", str(port), "--workers", "1"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while (answer := _readyz(base)) is None or answer.status_code != 200:
            assert process.poll() is None and time.monotonic() < deadline, "never ready"
            time.sleep(0.2)
        party = {"name": "Budi", "phone": "0812 3456 7890", "party_size": 4}
        assert httpx.post(f"{base}/api/venues/{code}/check-ins", json=party).status_code == 201

        _cli(tmp_path, env, "venue", "set-capacity", "grand-mall", "5")

        refused = httpx.post(f"{base}/api/venues/{code}/check-ins", json=party)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "venue_full"
        assert refused.json()["error"]["capacity"] == 5
        assert "4/5" in _cli(tmp_path, env, "venue", "list").replace(" ", "")
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert not (tmp_path / ".occupancy-redis.json").exists(), "forgotten when the server stops"
    # With no server running, the command still works (the change is in SQL for the next start).
    assert "capacity 6" in _cli(tmp_path, env, "venue", "set-capacity", "grand-mall", "6")
