"""Officials see the waiting lines now, per district and category and at each venue with a line:
parties waiting and places offered, as the line moves; nobody else does. On a single Redis and a
cluster, SQLite and PostgreSQL."""

from tests.line.test_line import check_in, check_out, join
from tests.redis_kinds import redis_kind  # noqa: F401


async def full(client, make_venue, capacity: int, district: str, category: str):
    """A venue of ``district`` and ``category`` with every place taken."""
    venue, signed = await make_venue(capacity=capacity, max_party=6, district=district,
                                     category=category)
    tickets = []
    for n in range(capacity):
        answer = await check_in(client, signed, n)
        assert answer.status_code == 201, answer.text
        tickets.append(answer.json()["ticket"])
    return venue, signed, tickets


async def test_officials_see_the_lines_per_district_and_category_as_they_move(
    client, services, make_venue, issue_token
):
    park, park_code, tickets = await full(client, make_venue, 2, "Bogor Tengah", "park")
    station, station_code, _ = await full(client, make_venue, 1, "Bogor Barat", "station")
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
