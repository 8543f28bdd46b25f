"""Walk-ins counted by door staff are anonymous visits: the count stays the sum of open visits."""

import asyncio

from sqlalchemy import select

from occupancy.visits.models import Visit
from tests.visits.helpers import live_count, open_people_in_sql, visitor


async def test_walk_ins_keep_the_count_equal_to_open_visits_in_sql(client, services, make_venue,
                                                                  issue_token):
    venue, code = await make_venue(capacity=50)
    staff = await issue_token("staff", venue.id)
    url = f"/api/venues/{venue.id}/walk-ins"

    for _ in range(3):
        assert (await client.post(url, json={"delta": 1}, headers=staff)).status_code == 200
    await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=2))
    out = await client.post(url, json={"delta": -1}, headers=staff)

    assert out.status_code == 200 and out.json()["occupancy"]["count"] == 4
    assert await live_count(services, venue.id) == 4 == await open_people_in_sql(services, venue.id)
    async with services.sessionmaker() as session:
        walkins = (await session.execute(
            select(Visit.personal, Visit.personal_key_id, Visit.phone_index, Visit.checked_out_at)
            .where(Visit.venue_id == venue.id, Visit.kind == "walkin")
            .order_by(Visit.checked_in_at))).all()
    assert len(walkins) == 3
    assert all(w.personal is None and w.personal_key_id is None and w.phone_index is None
               for w in walkins)
    assert walkins[0].checked_out_at is not None  # the oldest one left
    assert [w.checked_out_at for w in walkins[1:]] == [None, None]


async def test_concurrent_walk_ins_and_outs_conserve_the_count(client, services, make_venue,
                                                              issue_token):
    venue, _ = await make_venue(capacity=100)
    staff = await issue_token("staff", venue.id)
    url = f"/api/venues/{venue.id}/walk-ins"

    ins = await asyncio.gather(*[client.post(url, json={"delta": 1}, headers=staff) for _ in range(30)])
    outs = await asyncio.gather(*[client.post(url, json={"delta": -1}, headers=staff) for _ in range(20)])

    assert [r.status_code for r in ins] == [200] * 30
    assert [r.status_code for r in outs] == [200] * 20
    assert await live_count(services, venue.id) == 10 == await open_people_in_sql(services, venue.id)


async def test_walk_ins_respect_capacity_and_need_staff(client, services, make_venue, issue_token):
    venue, _ = await make_venue(capacity=1)
    other, _ = await make_venue()
    staff = await issue_token("staff", venue.id)
    url = f"/api/venues/{venue.id}/walk-ins"

    assert (await client.post(url, json={"delta": 1}, headers=staff)).status_code == 200
    full = await client.post(url, json={"delta": 1}, headers=staff)
    assert full.status_code == 409 and full.json()["error"]["code"] == "venue_full"
    assert (await client.post(url, json={"delta": -1}, headers=staff)).status_code == 200
    none = await client.post(url, json={"delta": -1}, headers=staff)
    assert none.status_code == 409 and none.json()["error"]["code"] == "no_walk_in"
    bad = await client.post(url, json={"delta": 5}, headers=staff)
    assert bad.status_code == 422
    assert (await client.post(url, json={"delta": 1})).status_code == 401
    other_staff = await issue_token("staff", other.id)
    assert (await client.post(url, json={"delta": 1}, headers=other_staff)).status_code == 403
    assert await live_count(services, venue.id) == 0 == await open_people_in_sql(services, venue.id)
