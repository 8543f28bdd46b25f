"""The benchmark harness keeps working: a few seconds of real load, invariants checked.

The harness runs as its own process (``python -m loadtest.peak.bench --smoke``): it starts
``occupancy serve`` with two workers, a private Redis and SQLite, drives check-ins and check-outs
with wrk, calls the check-in script raw with redis-benchmark, and checks the invariants at rest.
"""

import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from occupancy.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not (shutil.which("wrk") and shutil.which("redis-benchmark")),
    reason="the benchmark needs wrk and redis-benchmark: apt-get install -y wrk redis-tools",
)


def smoke(*options: str, env: dict[str, str] | None = None) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "loadtest.peak.bench", "--smoke", *options],
        cwd=ROOT, capture_output=True, text=True, timeout=180, env=env,
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


def test_smoke_run_of_venues_with_places_held_for_bookings_beside_plain_ones():
    # A slot cannot run past local midnight: in the city's last hour, the day of another zone.
    late = datetime.now(ZoneInfo(get_settings().timezone)).hour == 23
    out = smoke("--booked-venues", "10", "--no-bare",
                env=os.environ | {"OCCUPANCY_TIMEZONE": "Pacific/Honolulu"} if late else None)

    rows = {cells["mix"]: cells for cells in table_rows(out)}
    assert set(rows) == {"in", "booked"}, out
    for cells in rows.values():
        assert int(cells["check-ins/s"].replace(",", "")) > 0
        assert cells["errors"] == "0" and cells["invariants"] == "ok"
    # Every booked venue was run by a slot under way with its places held, and still held them
    # after the load (the run's invariants check it), so each check-in there read them.
    assert re.search(r"sqlite: 10 venues run by slot \d{8}-\d{4}, 6 places held at each", out), out
    cost = re.search(r"booking cost \(sqlite, single Redis, 1 runs\): .* check-ins/s x([\d.]+), "
                     r"server CPU per request x([\d.]+), Redis CPU per request x([\d.]+)", out)
    assert cost and all(float(ratio) > 0 for ratio in cost.groups()), out


def test_smoke_run_of_the_booking_and_line_scenarios_beside_the_check_ins():
    out = smoke("--book-line-venues", "3", "--no-bare")

    [cells] = table_rows(out)  # the check-in run of the same server, before the scenarios
    assert int(cells["check-ins/s"].replace(",", "")) > 0 and cells["invariants"] == "ok"
    booking = re.search(r"^booking scenario \(sqlite, single Redis\): ([\d,]+) bookings/s .* POST "
                        r"bookings p50 [\d.]+ ms p99 ([\d.]+) ms, \d+ refused \(slot full\), 0 errors; "
                        r"(\d+) cancellations, p99 [\d.]+ ms, 0 errors; invariants ok$", out, re.MULTILINE)
    assert booking and int(booking[1].replace(",", "")) > 0 and float(booking[2]) > 0, out
    assert int(booking[3]) > 0, out  # one booking in four is cancelled
    line = re.search(r"^line scenario \(sqlite, single Redis\): ([\d,]+) joins/s, POST line p50 "
                     r"[\d.]+ ms p99 ([\d.]+) ms; [\d,]+ status polls/s, p99 [\d.]+ ms; (\d+) offers "
                     r"claimed .*; 0 errors; invariants ok$", out, re.MULTILINE)
    assert line and int(line[1].replace(",", "")) > 0 and float(line[2]) > 0, out
    assert int(line[3]) > 0, out  # freed places went to the line and were claimed
