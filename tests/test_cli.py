"""The command line through its real entry point, on the README's embedded default (SQLite in
the working folder, no server running): the health office key pair, the purge, tokens, and a
command about the live counts refusing when no server holds them."""

import os
import subprocess
import sys

from occupancy.privacy.sealing import Opener, private_key_from, public_key_from
from tests.conftest import SECRET


def cli(tmp_path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCCUPANCY_")}
    env["OCCUPANCY_SECRET_KEY"] = SECRET
    env["OCCUPANCY_HEALTH_OFFICE_PUBLIC_KEY"] = os.environ["OCCUPANCY_HEALTH_OFFICE_PUBLIC_KEY"]
    done = subprocess.run([sys.executable, "-m", "occupancy.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode == 0) == ok, done.stdout + done.stderr
    return done


def test_keys_new_writes_a_private_key_only_its_owner_reads_and_prints_the_public_one(tmp_path):
    out = cli(tmp_path, "keys", "new", "--out", "office.key").stdout
    public = next(line.split("=", 1)[1] for line in out.splitlines()
                  if line.startswith("OCCUPANCY_HEALTH_OFFICE_PUBLIC_KEY="))
    key_file = tmp_path / "office.key"
    private = private_key_from(key_file.read_text())
    assert private.public_key == public_key_from(public)  # one pair
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert Opener(private).key_id  # usable for tracing
    kept = key_file.read_text()
    again = cli(tmp_path, "keys", "new", "--out", "office.key", ok=False)
    assert "never overwritten" in again.stderr and key_file.read_text() == kept


def test_purge_and_tokens_on_the_embedded_default(tmp_path):
    cli(tmp_path, "db", "upgrade")
    assert "purged the personal data of 0 visits and 0 data keys" in cli(tmp_path, "purge").stdout

    token = cli(tmp_path, "token", "issue", "official", "--label", "dinkes", "--days", "7").stdout
    assert token.startswith("occ_")
    listed = cli(tmp_path, "token", "list").stdout
    assert "official" in listed and "active" in listed and "dinkes" in listed
    assert token.strip() not in listed  # shown once, when issued
    token_id = listed.split()[0]
    assert f"revoked token {token_id}" in cli(tmp_path, "token", "revoke", token_id).stdout
    assert "revoked" in cli(tmp_path, "token", "list").stdout
    assert "no active token" in cli(tmp_path, "token", "revoke", token_id, ok=False).stderr


def test_reconcile_and_expire_refuse_when_no_server_holds_the_live_counts(tmp_path):
    cli(tmp_path, "db", "upgrade")
    for command in ("reconcile", "expire"):
        refused = cli(tmp_path, command, ok=False)
        assert refused.returncode == 1
        assert "No `occupancy serve` is running on this database" in refused.stderr
        assert "Traceback" not in refused.stderr


def test_people_are_added_granted_listed_and_removed(tmp_path):
    cli(tmp_path, "db", "upgrade")
    cli(tmp_path, "venue", "add", "grand-mall", "Grand Mall", "50")
    added = cli(tmp_path, "user", "add", "sari", "manager", "--venue", "grand-mall",
                "--password", "correct horse battery").stdout
    assert "added sari (manager of grand-mall)" in added
    assert "sari" in cli(tmp_path, "user", "list").stdout
    assert "sari is now official" in cli(tmp_path, "user", "grant", "sari", "official").stdout
    short = cli(tmp_path, "user", "add", "budi", "official", "--password", "short", ok=False)
    assert "at least 10 characters" in short.stderr
    assert "removed sari" in cli(tmp_path, "user", "remove", "sari").stdout
    assert "sari" not in cli(tmp_path, "user", "list").stdout


def test_rollup_refuses_when_no_server_holds_the_counters(tmp_path):
    cli(tmp_path, "db", "upgrade")
    refused = cli(tmp_path, "rollup", ok=False)
    assert "No `occupancy serve` is running on this database" in refused.stderr


def test_audit_verify_prints_the_head_and_fails_loudly_on_a_record_outside_the_chain(tmp_path):
    import sqlite3

    cli(tmp_path, "db", "upgrade")
    assert "the audit log's 0 records are intact" in cli(tmp_path, "audit", "verify").stdout
    # Rows cannot be edited, but one can be inserted straight into the file: it links to nothing.
    with sqlite3.connect(tmp_path / "occupancy.db") as db:
        db.execute("INSERT INTO trace_audit (at, asked_by, question, cases, revealed, outcome,"
                   " previous, digest) VALUES ('2026-12-01 10:00:00', 'nobody', 'x', 0, 0,"
                   " 'answered', 'forged', 'forged')")
    failed = cli(tmp_path, "audit", "verify", ok=False)
    assert "record 1 does not follow" in failed.stderr


def test_venues_are_placed_on_the_map_moved_and_taken_off(tmp_path):
    import sqlite3

    def location(code: str) -> tuple:
        with sqlite3.connect(tmp_path / "occupancy.db") as db:
            return db.execute("SELECT latitude, longitude FROM venues WHERE code = ?", (code,)).fetchone()

    cli(tmp_path, "db", "upgrade")
    cli(tmp_path, "venue", "add", "pasar-anyar", "Pasar Anyar", "800",
        "--latitude", "-6.1702", "--longitude", "106.6319")
    assert location("pasar-anyar") == (-6.1702, 106.6319)
    moved = cli(tmp_path, "venue", "set-location", "pasar-anyar", "--latitude", "-6.18",
                "--longitude", "106.64").stdout
    assert "pasar-anyar: at -6.18, 106.64" in moved and location("pasar-anyar") == (-6.18, 106.64)

    far = cli(tmp_path, "venue", "set-location", "pasar-anyar", "--latitude", "-96",
              "--longitude", "106.64", ok=False)
    assert "error: Latitude must be between -90 and 90 degrees." in far.stderr
    half = cli(tmp_path, "venue", "add", "taman", "Taman", "50", "--latitude", "-6.2", ok=False)
    assert "Give both latitude and longitude, or neither." in half.stderr
    assert "Traceback" not in far.stderr + half.stderr
    assert location("pasar-anyar") == (-6.18, 106.64)

    assert "pasar-anyar: off the map" in cli(tmp_path, "venue", "set-location", "pasar-anyar",
                                             "--clear").stdout
    assert location("pasar-anyar") == (None, None)
    neither = cli(tmp_path, "venue", "set-location", "pasar-anyar", ok=False)
    assert "give --latitude and --longitude, or --clear" in neither.stderr


def test_a_venue_is_run_by_slots_from_the_command_line(tmp_path):
    cli(tmp_path, "db", "upgrade")
    cli(tmp_path, "venue", "add", "taman-sempur", "Taman Sempur", "300", "--category", "park")
    shown = cli(tmp_path, "venue", "slots", "set", "taman-sempur", "--starts", "07:00,09:00",
                "--minutes", "120", "--capacity", "100", "--advance-percent", "80",
                "--weekdays", "67").stdout
    assert ("taman-sempur: slots 07:00-09:00 09:00-11:00; 100 places each, 80 bookable in advance"
            in shown) and "weekdays 67" in shown
    assert cli(tmp_path, "venue", "slots", "show", "taman-sempur").stdout == shown
    refused = cli(tmp_path, "venue", "slots", "set", "taman-sempur", "--ranges",
                  "07:00-09:00,08:00-10:00", "--capacity", "100", ok=False)
    assert "Slots overlap at 08:00" in refused.stderr and "Traceback" not in refused.stderr
    assert cli(tmp_path, "venue", "slots", "show", "taman-sempur").stdout == shown
    assert "no time slots" in cli(tmp_path, "venue", "slots", "off", "taman-sempur").stdout
    assert "not run by time slots" in cli(tmp_path, "venue", "slots", "show", "taman-sempur",
                                          ok=False).stderr
