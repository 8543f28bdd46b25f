"""Retention: personal data past the retention period is purged with its data keys; the visits,
their counts and the history stay; recent personal data is untouched."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from occupancy.privacy.models import DataKey
from occupancy.privacy.purge import purge
from occupancy.visits.models import Visit
from tests.visits.helpers import live_count, visitor


async def test_purge_clears_old_personal_data_and_keeps_the_counts(client, services, make_venue):
    venue, code = await make_venue(capacity=10)
    for _ in range(3):
        assert (await client.post(f"/api/venues/{code}/check-ins",
                                  json=visitor(party_size=2))).status_code == 201
    old_day = datetime.now(UTC) - timedelta(days=20)
    async with services.sessionmaker() as session:
        [old, *recent] = list((await session.execute(
            select(Visit.id).order_by(Visit.id))).scalars())
        # One visit and the data key it was sealed with are from 20 days ago.
        await session.execute(update(Visit).where(Visit.id == old).values(checked_in_at=old_day))
        old_key = DataKey(id="f" * 32, office_key_id="0" * 16, sealed_key=b"x",
                          created_at=old_day, used_until=old_day + timedelta(hours=1))
        session.add(old_key)
        await session.commit()

    purged = await purge(services.sessionmaker, retention_days=14)

    assert (purged.visits, purged.data_keys) == (1, 1)
    async with services.sessionmaker() as session:
        rows = {r.id: r for r in (await session.execute(
            select(Visit.id, Visit.personal, Visit.personal_key_id, Visit.phone_index,
                   Visit.party_size))).all()}
        keys_left = (await session.execute(select(func.count()).select_from(DataKey))).scalar()
    assert rows[old].personal is None and rows[old].phone_index is None
    assert rows[old].party_size == 2  # the anonymous visit stays for the history
    assert all(rows[v].personal is not None and rows[v].phone_index for v in recent)
    assert keys_left == 1  # the current period's key
    assert await live_count(services, venue.id) == 6
    assert await purge(services.sessionmaker, retention_days=14) == type(purged)(0, 0)
