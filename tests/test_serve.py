"""The README's first command: `occupancy serve` on a fresh folder starts its own Redis and SQLite."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from occupancy.embedded_redis import free_port


def test_serve_with_no_configuration_starts_and_stops_its_own_redis(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCCUPANCY_")}
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
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}" in output
    for pid in redis_children:
        status = Path(f"/proc/{pid}/status")
        assert not status.exists() or "zombie" in status.read_text()
