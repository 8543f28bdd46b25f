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


def smoke(*options: str) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "loadtest.peak.bench", "--smoke", *options],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout


def table_rows(out: str) -> list[dict[str, str]]:
    """The table's rows, each as {column: cell}."""
    header = next(line for line in out.splitlines() if line.startswith("db "))
    names = [c.strip() for c in header.split("|")]
    return [dict(zip(names, (c.strip() for c in line.split("|")), strict=True))
            for line in out.splitlines() if line.startswith("sqlite ")]


def test_smoke_run_serves_check_ins_durably_and_prints_its_table():
    out = smoke()

    header = next(line for line in out.splitlines() if line.startswith("db "))
    assert "check-ins/s" in header and "p99 ms" in header and "raw Redis/s" in header
    [cells] = table_rows(out)
    assert int(cells["check-ins/s"].replace(",", "")) > 0
    assert cells["errors"] == "0"
    assert cells["invariants"] == "ok"
    assert float(cells["ratio"]) > 0
    assert cells["redis"] == "single"
    # The bare endpoint ran under the same load in the same run: the service is compared with it.
    assert int(cells["bare req/s"].replace(",", "")) > 0
    assert float(cells["x bare req/s"]) > 0 and float(cells["x bare CPU"]) > 0
    assert re.search(r"bare FastAPI in\+out: [\d,]+ req/s, .* 0 errors", out), out

    summary = re.search(r"(\d+) acked check-ins and (\d+) check-outs all in SQL", out)
    assert summary and int(summary[1]) > 0, out
    assert "invariants: checked in all 1 runs, none broken" in out
    assert "command: uv run --group loadtest python -m loadtest.peak.bench --smoke" in out


def test_smoke_run_on_a_redis_cluster_keeps_the_invariants_on_every_master():
    out = smoke("--redis", "cluster", "--no-bare")

    [cells] = table_rows(out)
    assert cells["redis"] == "cluster"
    assert int(cells["check-ins/s"].replace(",", "")) > 0
    assert cells["errors"] == "0" and cells["invariants"] == "ok"
    assert cells["bare req/s"] == "-"  # not asked for
    summary = re.search(r"sqlite cluster Redis .* (\d+) acked check-ins and (\d+) check-outs all in SQL",
                        out)
    assert summary and int(summary[1]) > 0, out
