"""The benchmark harness keeps working: a few seconds of real load, invariants checked.

The harness runs as its own process (``python -m loadtest.peak.bench --smoke``): it starts
``occupancy serve`` with two workers, a private Redis and SQLite, drives check-ins and check-outs
with wrk, calls the check-in script raw with redis-benchmark, and checks the invariants at rest.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not (shutil.which("wrk") and shutil.which("redis-benchmark")),
    reason="the benchmark needs wrk and redis-benchmark: apt-get install -y wrk redis-tools",
)


def test_smoke_run_serves_check_ins_durably_and_prints_its_table():
    run = subprocess.run(
        [sys.executable, "-m", "loadtest.peak.bench", "--smoke"],
        cwd=ROOT, capture_output=True, text=True, timeout=150,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout

    header = next(line for line in out.splitlines() if line.startswith("db "))
    assert "check-ins/s" in header and "p99 ms" in header and "raw Redis/s" in header
    row = next(line for line in out.splitlines() if line.startswith("sqlite "))
    cells = dict(zip((c.strip() for c in header.split("|")), (c.strip() for c in row.split("|")),
                     strict=True))
    assert int(cells["check-ins/s"].replace(",", "")) > 0
    assert cells["errors"] == "0"
    assert cells["invariants"] == "ok"
    assert float(cells["ratio"]) > 0

    summary = re.search(r"(\d+) acked check-ins and (\d+) check-outs all in SQL", out)
    assert summary and int(summary[1]) > 0, out
    assert "invariants: checked in all 1 runs, none broken" in out
    assert "command: uv run --group loadtest python -m loadtest.peak.bench --smoke" in out
