"""Visitors' personal data is sealed at rest: no table of SQLite or PostgreSQL (nor the SQLite
files themselves) holds a name, phone or email in plaintext; the health office's private key
opens it, another key fails clearly; data keys rotate; rows from before sealing are sealed by the
migration."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from occupancy import migrate
from occupancy.privacy.models import DataKey
from occupancy.privacy.sealing import (
    DEMO_KEY_FILE,
    NoOfficeKey,
    Opener,
    Personal,
    Sealed,
    Sealer,
    WrongKey,
    new_key_pair,
    office_public_key,
    private_key_from,
    public_key_from,
)
from occupancy.settings import DEVELOPMENT_SECRET, Settings
from occupancy.visits.models import Visit
from tests.conftest import OFFICE_PRIVATE_KEY
from tests.visits.helpers import visitor

MARKER = Personal("Zyxquokka Marker", "089913572468", "zyx.marker@example.id")
# Every form the phone could be stored in.
MARKER_STRINGS = [MARKER.name, "Zyxquokka", MARKER.phone, "6289913572468", "99135724",
                  MARKER.email, "zyx.marker"]


async def every_value(database_url: str) -> str:
    """Every row of every table, as text."""
    engine = create_async_engine(database_url)
    dump = []
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        for table in tables:
            rows = (await conn.execute(text(f'SELECT * FROM "{table}"'))).all()
            dump += [repr(row) for row in rows]
            dump += [bytes(v).decode("latin-1") for row in rows for v in row
                     if isinstance(v, bytes | memoryview)]
    await engine.dispose()
    return "\n".join(dump)


async def test_no_table_holds_personal_data_in_plaintext(client, services, make_venue):
    venue, code = await make_venue(capacity=10)
    body = visitor(name=MARKER.name, phone="0899 1357 2468", email=MARKER.email)
    assert (await client.post(f"/api/venues/{code}/check-ins", json=body)).status_code == 201
    ticket_holder = await client.post(f"/api/venues/{code}/check-ins", json=body)  # a second party
    ticket = ticket_holder.json()["ticket"]
    assert (await client.post(f"/api/tickets/{ticket}/check-out")).status_code == 200

    dump = await every_value(services.settings.database_url)
    assert "visits" in dump or dump  # the dump did read rows
    for marker in MARKER_STRINGS:
        assert marker not in dump
    if services.settings.database_url.startswith("sqlite"):
        path = Path(services.settings.database_url.split("///", 1)[1])
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        for marker in MARKER_STRINGS:
            assert marker.encode() not in raw


async def test_the_office_key_opens_the_data_and_another_key_fails_clearly(client, services,
                                                                          make_venue):
    venue, code = await make_venue(capacity=10)
    body = visitor(name=MARKER.name, phone="0899 1357 2468", email=MARKER.email)
    visit_id = (await client.post(f"/api/venues/{code}/check-ins", json=body)).json()["visit_id"]
    async with services.sessionmaker() as session:
        visit = (await session.execute(select(Visit.personal, Visit.personal_key_id)
                                       .where(Visit.id == visit_id))).one()
        key = await session.get(DataKey, visit.personal_key_id)
    sealed = Sealed(visit.personal_key_id, visit.personal)

    opener = Opener(private_key_from(OFFICE_PRIVATE_KEY))
    opener.add_key(key)
    assert opener.open(visit_id, sealed) == MARKER
    with pytest.raises(WrongKey, match="another visit|does not open"):
        opener.open("0" * 32, sealed)  # bound to its visit: no use in another row

    _, other_private = new_key_pair()
    with pytest.raises(WrongKey, match="does not open these visits"):
        Opener(private_key_from(other_private)).add_key(key)
    with pytest.raises(WrongKey, match="not a private key"):
        private_key_from("not a key")


async def test_each_process_draws_a_new_data_key_each_period(services):
    office = public_key_from(services.settings.health_office_public_key)
    sealer = Sealer(services.sessionmaker, office, period_seconds=0.3)
    first = await sealer.seal("a" * 32, MARKER)
    again = await sealer.seal("b" * 32, MARKER)
    await asyncio.sleep(0.4)
    later = await sealer.seal("c" * 32, MARKER)

    assert first.key_id == again.key_id != later.key_id
    async with services.sessionmaker() as session:
        keys = {k.id: k for k in (await session.execute(select(DataKey))).scalars()}
    opener = Opener(private_key_from(OFFICE_PRIVATE_KEY))
    for key in keys.values():
        opener.add_key(key)
    assert opener.open("c" * 32, later) == opener.open("a" * 32, first) == MARKER
    assert all(MARKER.phone.encode() not in k.sealed_key for k in keys.values())


async def test_the_migration_seals_rows_written_in_plaintext(empty_database_url):
    await asyncio.to_thread(migrate.upgrade, empty_database_url, "0004")
    engine = create_async_engine(empty_database_url)
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO venues (id, code, name, district, category, capacity, max_party, "
            "max_stay_minutes, fever_threshold, paused, created_at) VALUES "
            "(1, 'old-mall', 'Old Mall', '', 'mall', 50, 10, 240, 37.5, false, :now)"),
            {"now": datetime.now(UTC).replace(tzinfo=None)})
        await conn.execute(text(
            "INSERT INTO visits (id, venue_id, ticket_hash, party_size, checked_in_at, kind, "
            "visitor_name, visitor_phone, visitor_email) VALUES ('v1', 1, :th, 2, :now, 'visitor', "
            ":name, :phone, :email)"),
            {"th": "1" * 64, "now": datetime.now(UTC).replace(tzinfo=None), "name": MARKER.name,
             "phone": MARKER.phone, "email": MARKER.email})
    await asyncio.to_thread(migrate.upgrade, empty_database_url)

    async with engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT personal, personal_key_id, phone_index FROM visits WHERE id = 'v1'"))).one()
        key_row = (await conn.execute(text("SELECT * FROM data_keys"))).one()
    await engine.dispose()
    opener = Opener(private_key_from(OFFICE_PRIVATE_KEY))
    opener.add_key(DataKey(**key_row._mapping))
    assert opener.open("v1", Sealed(row.personal_key_id, bytes(row.personal))) == MARKER
    assert row.phone_index
    for marker in MARKER_STRINGS:
        assert marker not in await every_value(empty_database_url)
    if empty_database_url.startswith("sqlite"):
        path = Path(empty_database_url.split("///", 1)[1])
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        for marker in MARKER_STRINGS:
            assert marker.encode() not in raw


def test_without_an_office_key_a_real_deployment_refuses_and_a_development_one_makes_a_demo_pair(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NoOfficeKey, match="occupancy keys new"):
        office_public_key(Settings(secret_key="a real secret", health_office_public_key=""))
    assert not (tmp_path / DEMO_KEY_FILE).exists()

    demo = office_public_key(Settings(secret_key=DEVELOPMENT_SECRET, health_office_public_key=""))
    assert office_public_key(Settings(secret_key=DEVELOPMENT_SECRET,
                                      health_office_public_key="")) == demo  # made once
    assert (tmp_path / DEMO_KEY_FILE).stat().st_mode & 0o777 == 0o600
