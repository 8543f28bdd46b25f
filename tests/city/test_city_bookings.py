"""Officials see today's bookings across the venues run by slots: places booked, claimed and
no-shows per venue, district and category, and the no-show rate; nobody else does. On a single
Redis and a cluster, SQLite and PostgreSQL."""

from datetime import datetime, timedelta

import pytest

from occupancy.bookings.expiry import SlotTimers
from tests.bookings.helpers import JAKARTA
from tests.bookings.test_claims import book
from tests.bookings.test_expiry import GRACE, slot_times
from tests.redis_kinds import redis_kind  # noqa: F401


async def slotted(client, make_venue, issue_token, district: str, category: str):
    """A venue in ``district`` whose hour-long slot started a minute ago; (venue, signed, slot)."""
    start = datetime.now(JAKARTA).replace(second=0, microsecond=0) - timedelta(minutes=1)
    end = start + timedelta(minutes=60)
    if end.date() != start.date():
        pytest.skip("the test's slot would cross local midnight")
    venue, signed = await make_venue(capacity=30, max_party=10, district=district,
                                     category=category)
    answer = await client.put(f"/api/venues/{venue.id}/slots", headers=await issue_token(
        "manager", venue.id), json={"ranges": [f"{start:%H:%M}-{end:%H:%M}"], "capacity": 30,
                                    "hold_minutes": 30})
    assert answer.status_code == 200, answer.text
    return venue, signed, f"{start:%Y%m%d-%H%M}"


async def test_officials_see_todays_bookings_per_district_and_category(
    client, services, make_venue, issue_token
):
    park, park_code, slot = await slotted(client, make_venue, issue_token, "Bogor Tengah", "park")
    station, station_code, _ = await slotted(client, make_venue, issue_token, "Bogor Barat",
                                             "station")
    await make_venue(capacity=10, district="Bogor Tengah", category="park")  # not run by slots
    came = await book(client, park_code, slot, 1, 4)
    await book(client, park_code, slot, 2, 2)  # never comes
    gone = await book(client, station_code, slot, 3, 5)
    assert (await client.post(f"/api/venues/{park_code}/check-ins",
                              json={"booking": came})).status_code == 201
    assert (await client.post("/api/booking-cancellations", json={"booking": gone})).status_code == 200

    official = await issue_token("official")
    answer = await client.get("/api/city/bookings", headers=official)
    assert answer.status_code == 200, answer.text
    city = answer.json()
    assert city["totals"] == {"bookings": 2, "booked": 6, "claimed": 4, "waiting": 2,
                              "no_shows": 0, "cancelled": 5, "no_show_rate": 0.0}
    assert [(v["name"], v["booked"]) for v in city["venues"]] == [(park.name, 6), (station.name, 0)]
    assert city["by_district"]["Bogor Barat"]["cancelled"] == 5
    assert set(city["by_category"]) == {"park", "station"}

    hold_ends = slot_times(slot)[0] + timedelta(minutes=30)
    assert (await SlotTimers(services.bookings, services.visits, GRACE).run(hold_ends))[0] == 1
    park_now = (await client.get("/api/city/bookings", headers=official)).json()["by_district"][
        "Bogor Tengah"]
    assert (park_now["claimed"], park_now["no_shows"], park_now["waiting"],
            park_now["no_show_rate"]) == (4, 2, 0, 0.333)

    # Another day has none; the figures are for officials only; a bad date is a 422.
    tomorrow = (datetime.now(JAKARTA).date() + timedelta(days=1)).isoformat()
    other_day = (await client.get("/api/city/bookings", headers=official,
                                  params={"date": tomorrow})).json()
    assert (other_day["date"], other_day["totals"]["booked"]) == (tomorrow, 0)
    assert (await client.get("/api/city/bookings", headers=await issue_token(
        "manager", park.id))).status_code == 403
    assert (await client.get("/api/city/bookings")).status_code == 401
    bad = await client.get("/api/city/bookings", headers=official, params={"date": "today"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "date")
