"""Officials see the waiting lines now, per district and category and at each venue with a line:
parties waiting and places offered, as the line moves; nobody else does. On a single Redis and a
cluster, SQLite and PostgreSQL."""

from tests.line.test_line import check_out, full_venue, join
from tests.redis_kinds import redis_kind  # noqa: F401


async def test_officials_see_the_lines_per_district_and_category_as_they_move(
    client, services, make_venue, issue_token
):
    park, park_code, tickets = await full_venue(client, make_venue, 2, district="Bogor Tengah",
                                                 category="park")
    station, station_code, _ = await full_venue(client, make_venue, 1, district="Bogor Barat",
                                                    category="station")
    await make_venue(capacity=10, district="Bogor Barat", category="park")  # no line
    for party in (1, 2, 1):
        await join(client, park_code, party)
    await join(client, station_code)
    official = await issue_token("official")

    seen = (await client.get("/api/city/line", headers=official)).json()
    assert seen["totals"] == {"waiting": 4, "places_offered": 0}
    assert seen["by_district"]["Bogor Tengah"] == {"waiting": 3, "places_offered": 0}
    assert seen["by_category"]["station"] == {"waiting": 1, "places_offered": 0}
    assert [(v["code"], v["waiting"]) for v in seen["venues"]] == [(park.code, 3),
                                                                  (station.code, 1)]

    # A check-out at the park: its head (one person) is offered a place, the next does not fit.
    await check_out(client, tickets[0])
    assert len(await services.line.advance(park.id)) == 1
    seen = (await client.get("/api/city/line", headers=official)).json()
    assert seen["by_district"]["Bogor Tengah"] == {"waiting": 2, "places_offered": 1}
    assert seen["totals"] == {"waiting": 3, "places_offered": 1}

    for role, venue_id in (("manager", park.id), ("staff", park.id), ("monitor", None)):
        refused = await client.get("/api/city/line", headers=await issue_token(role, venue_id))
        assert refused.status_code == 403, role
    assert (await client.get("/api/city/line")).status_code == 401
