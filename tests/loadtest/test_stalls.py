"""The benchmark's stall watch reports a task step that holds the event loop, and only that."""

import os
import subprocess
import sys

from loadtest.peak import stalls

PROGRAM = """
import asyncio, time

async def holds_the_loop():
    time.sleep(0.3)

async def waits_politely():
    await asyncio.sleep(0.3)

async def main():
    await asyncio.sleep(0.05)
    await waits_politely()
    await holds_the_loop()
    await asyncio.sleep(0.05)

asyncio.run(main())
"""


def test_the_stall_watch_names_what_held_the_loop(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(stalls.WATCH_DIR), OCCUPANCY_STALL_WATCH=str(tmp_path))
    subprocess.run([sys.executable, "-c", PROGRAM], env=env, check=True, timeout=30)

    (where, lasted), = [(where, ms) for where, ms, start_up in stalls.stalls(tmp_path) if not start_up]
    assert where.startswith("holds_the_loop") and 250 <= lasted < 5000
    assert "1 x" in stalls.summarize(tmp_path) and "holds_the_loop" in stalls.summarize(tmp_path)
