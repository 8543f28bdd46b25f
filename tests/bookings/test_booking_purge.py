"""Bookings' personal data is purged like a visit's: once its slot ended longer ago than the
retention period; a data key that still seals a later slot's booking is kept until then."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from occupancy.bookings.models import Booking
from occupancy.privacy.models import DataKey
from occupancy.privacy.purge import purge
from tests.bookings.helpers import booker, slot_key, slotted_venue, tomorrow


async def _rows(services) -> dict:
    async with services.sessionmaker() as session:
        rows = (await session.execute(select(Booking.slot, Booking.personal, Booking.phone_index,
                                             Booking.party_size, Booking.slot_ends_at))).all()
        keys = (await session.execute(select(func.count()).select_from(DataKey))).scalar()
    return {row.slot: row for row in rows}, keys


async def test_a_bookings_personal_data_goes_once_its_slot_is_past_retention(
    client, services, make_venue, issue_token
):
    _, signed, _ = await slotted_venue(client, make_venue, issue_token, days_ahead=10)
    soon, later = slot_key(tomorrow(), "07:00"), slot_key(tomorrow() + timedelta(days=9), "07:00")
    for n, slot in enumerate((soon, later)):
        made = await client.post(f"/api/venues/{signed}/bookings", json=booker(slot, n))
        assert made.status_code == 201, made.text
    rows, keys = await _rows(services)
    assert keys == 1 and all(row.personal and row.phone_index for row in rows.values())

    # Fifteen days after the first slot ended, before the later one did: the data key (used for an
    # hour from now) is past retention, but still seals the later booking.
    now = rows[soon].slot_ends_at + timedelta(days=15)
    assert now > datetime.now(UTC) + timedelta(days=14, hours=1)
    purged = await purge(services.sessionmaker, retention_days=14, now=now)
    assert (purged.bookings, purged.data_keys) == (1, 0)
    rows, keys = await _rows(services)
    assert (rows[soon].personal, rows[soon].phone_index, rows[soon].party_size) == (None, None, 2)
    assert rows[later].personal is not None and keys == 1

    purged = await purge(services.sessionmaker, retention_days=14,
                         now=rows[later].slot_ends_at + timedelta(days=15))
    assert (purged.bookings, purged.data_keys) == (1, 1)
    rows, keys = await _rows(services)
    assert rows[later].personal is None and keys == 0
