"""The locust scenarios keep working: a few seconds of every kind of user against a real server.

Locust runs as its own process, as documented in ``loadtest/locust/locustfile.py``; the test reads its
CSV statistics.
"""

import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def test_every_scenario_runs_headless_without_failures(live_server, make_venue, issue_token,
                                                             tmp_path):
    for _ in range(3):
        await make_venue(capacity=50)
    operator = (await issue_token("operator"))["Authorization"].removeprefix("Bearer ")

    run = subprocess.run(
        [sys.executable, "-m", "locust", "-f", "loadtest/locust/locustfile.py", "--headless",
         "-u", "24", "-r", "24", "-t", "12s", "--host", live_server.url,
         "--csv", str(tmp_path / "smoke"), "--only-summary"],
        cwd=ROOT, env={**os.environ, "OCC_TOKEN": operator},
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    with open(tmp_path / "smoke_stats.csv") as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    assert int(rows["Aggregated"]["Failure Count"]) == 0
    assert int(rows["/api/venues/[venue]/check-ins"]["Request Count"]) > 0
    print({name: row["Request Count"] for name, row in rows.items()})
    for scenario in ("/api/venues/[venue]/check-ins", "/api/check-outs",  # shoppers
                     "/api/venues/[id]/screenings",  # door staff
                     "own check-in -> dashboard update",  # managers
                     "/api/city/now"):  # officials
        assert int(rows[scenario]["Request Count"]) > 0, scenario
