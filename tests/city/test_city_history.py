"""Officials see the history of bookings and waiting lines per local day, district and category
and for the city, as JSON and CSV, with nothing personal; bad periods are refused as the visits'
history refuses them. Today's figures come from real bookings and line actions through the API
and the service's own jobs; days past (which the API cannot make) are rows written through the
models. On a single Redis and a cluster, SQLite and PostgreSQL."""

import asyncio
import csv
import io
import time
import uuid
from datetime import UTC, datetime, timedelta

from occupancy.bookings.expiry import SlotTimers
from occupancy.bookings.models import Booking
from occupancy.line.models import LineEntry
from tests.bookings.helpers import JAKARTA
from tests.bookings.test_claims import book
from tests.bookings.test_expiry import GRACE, slot_times
from tests.city.test_city_bookings import slotted
from tests.line.test_line import check_out, claim, full_venue, join, status
from tests.redis_kinds import redis_kind  # noqa: F401


def days_ago(n: int):
    return datetime.now(JAKARTA).date() - timedelta(days=n)


def local(day, hhmm: str) -> datetime:
    """A time on the city's clock on ``day``, in UTC."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=JAKARTA).astimezone(UTC)


async def past_bookings(services, venue_id: int, day, parties: dict[str, int]) -> None:
    """Bookings of a slot on a day past (09:00-10:00), written through the model: the API books
    only from today on. ``parties``: state -> party size."""
    start = local(day, "09:00")
    async with services.sessionmaker() as session, session.begin():
        for state, party in parties.items():
            key = uuid.uuid4().hex
            session.add(Booking(
                id=key, venue_id=venue_id, booking_hash=key * 2, slot=f"{day:%Y%m%d}-0900",
                slot_starts_at=start, slot_ends_at=start + timedelta(hours=1), party_size=party,
                booked_at=start - timedelta(days=1),
                claimed_at=start + timedelta(minutes=5) if state == "claimed" else None,
                expired_at=start + timedelta(minutes=30) if state == "no_show" else None,
                cancelled_at=start - timedelta(hours=2) if state == "cancelled" else None))


async def test_officials_see_the_bookings_history_per_day_district_and_category(
    client, services, make_venue, issue_token
):
    park, park_code, slot = await slotted(client, make_venue, issue_token, "Bogor Tengah", "park")
    station, station_code, _ = await slotted(client, make_venue, issue_token, "Bogor Barat",
                                             "station")
    came = await book(client, park_code, slot, 1, 4)
    await book(client, park_code, slot, 2, 2)  # never comes
    gone = await book(client, park_code, slot, 3, 3)
    await book(client, station_code, slot, 4, 5)  # never comes either
    assert (await client.post(f"/api/venues/{park_code}/check-ins",
                              json={"booking": came})).status_code == 201
    assert (await client.post("/api/booking-cancellations", json={"booking": gone})).status_code == 200
    hold_ends = slot_times(slot)[0] + timedelta(minutes=30)
    assert (await SlotTimers(services.bookings, services.visits, GRACE).run(hold_ends))[0] == 2
    yesterday = days_ago(1)
    await past_bookings(services, station.id, yesterday, {"claimed": 2, "no_show": 3,
                                                          "cancelled": 1})

    official = await issue_token("official")
    period = {"from": days_ago(2).isoformat(), "to": days_ago(0).isoformat()}
    answer = await client.get("/api/city/bookings/history", headers=official, params=period)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert (found["from"], found["to"]) == (period["from"], period["to"])
    assert [day["day"] for day in found["days"]] == [yesterday.isoformat(), period["to"]]
    past, today = found["days"]
    assert past["totals"] == {"bookings": 2, "booked": 5, "claimed": 2, "waiting": 0,
                              "no_shows": 3, "cancelled": 1, "no_show_rate": 0.6}
    assert list(past["by_district"]) == ["Bogor Barat"]
    assert today["by_district"]["Bogor Tengah"] == {
        "bookings": 2, "booked": 6, "claimed": 4, "waiting": 0, "no_shows": 2, "cancelled": 3,
        "no_show_rate": 0.333}
    assert today["by_category"]["station"] == {
        "bookings": 1, "booked": 5, "claimed": 0, "waiting": 0, "no_shows": 5, "cancelled": 0,
        "no_show_rate": 1.0}
    assert today["totals"]["booked"] == 11
    # The period: both days summed.
    assert found["totals"] == {"bookings": 5, "booked": 16, "claimed": 6, "waiting": 0,
                               "no_shows": 10, "cancelled": 4, "no_show_rate": 0.625}
    assert found["by_category"]["station"]["no_shows"] == 8
    assert found["by_district"]["Bogor Tengah"]["cancelled"] == 3

    exported = await client.get("/api/city/bookings/history.csv", headers=official, params=period)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["day"], r["district"], r["category"], r["booked"], r["no_shows"]) for r in rows] == [
        (yesterday.isoformat(), "Bogor Barat", "station", "5", "3"),
        (period["to"], "Bogor Barat", "station", "5", "5"),
        (period["to"], "Bogor Tengah", "park", "6", "2")]
    assert "Budi" not in exported.text and "0813" not in exported.text


async def past_line(services, venue_id: int, entries: list[tuple]) -> None:
    """Line entries of days past, written through the model: (joined, offered, claimed, passed,
    left), each a UTC time or None."""
    async with services.sessionmaker() as session, session.begin():
        for seq, (joined, offered, claimed, passed, left) in enumerate(entries, 1):
            key = uuid.uuid4().hex
            session.add(LineEntry(
                id=key, venue_id=venue_id, entry_hash=key * 2, party_size=1, seq=seq,
                joined_at=joined, offered_at=offered,
                offer_until=offered + timedelta(minutes=5) if offered else None,
                claimed_at=claimed, passed_at=passed, left_at=left))


async def test_officials_see_the_lines_history_per_day_district_and_category(
    client, services, make_venue, issue_token
):
    # Today, for real: three parties wait at a full park; the first claims its offer, the
    # second lets it pass, the third leaves once offered.
    park, park_code, tickets = await full_venue(client, make_venue, 1, district="Bogor Tengah",
                                                 category="park")
    first, second, third = [await join(client, park_code) for _ in range(3)]
    await check_out(client, tickets[0])
    assert len(await services.line.advance(park.id)) == 1
    claimed = await claim(client, park_code, first["line"])
    assert claimed.status_code == 201, claimed.text
    await check_out(client, claimed.json()["ticket"])
    services.line.offer_seconds = 1
    assert len(await services.line.advance(park.id)) == 1
    deadline = time.monotonic() + 60
    while (await status(client, second["line"]))["state"] != "passed":
        assert time.monotonic() < deadline, "the offer never ran out"
        await asyncio.sleep(0.2)
        await services.line.advance(park.id)
    assert (await status(client, third["line"]))["state"] == "offered"
    left = await client.post("/api/line-leaves", json={"line": third["line"]})
    assert left.status_code == 200, left.text

    # Days past at a station: two days ago four parties (the last still waiting at midnight),
    # yesterday one more.
    station, _ = await make_venue(capacity=5, district="Bogor Barat", category="station")
    before, yesterday = days_ago(2), days_ago(1)
    await past_line(services, station.id, [
        (local(before, "09:00"), local(before, "09:10"), local(before, "09:12"), None, None),
        (local(before, "09:05"), local(before, "09:30"), None, local(before, "09:35"), None),
        (local(before, "09:20"), None, None, None, local(before, "09:25")),
        (local(before, "23:50"), local(yesterday, "00:20"), local(yesterday, "00:22"), None, None),
        (local(yesterday, "00:10"), None, None, None, local(yesterday, "00:15")),
    ])

    official = await issue_token("official")
    period = {"from": before.isoformat(), "to": days_ago(0).isoformat()}
    answer = await client.get("/api/city/line/history", headers=official, params=period)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert [day["day"] for day in found["days"]] == [before.isoformat(), yesterday.isoformat(),
                                                     period["to"]]
    two_days, one_day, today = found["days"]
    assert two_days["totals"] == {"joined": 4, "offered": 2, "claimed": 1, "passed": 1, "left": 1,
                                  "longest_wait_minutes": 25.0, "median_wait_minutes": 17.5,
                                  "longest_line": 2}
    # Yesterday's line began with the party waiting since the night before.
    assert one_day["by_district"]["Bogor Barat"] == {
        "joined": 1, "offered": 1, "claimed": 1, "passed": 0, "left": 1,
        "longest_wait_minutes": 30.0, "median_wait_minutes": 30.0, "longest_line": 2}
    park_today = today["by_category"]["park"]
    assert {k: park_today[k] for k in ("joined", "offered", "claimed", "passed", "left",
                                       "longest_line")} == {
        "joined": 3, "offered": 3, "claimed": 1, "passed": 1, "left": 1, "longest_line": 3}
    async with services.sessionmaker() as session:
        waits = sorted((entry.offered_at - entry.joined_at).total_seconds()
                       for entry in (await session.execute(LineEntry.__table__.select().where(
                           LineEntry.venue_id == park.id))).all())
    assert park_today["longest_wait_minutes"] == round(waits[-1] / 60, 1)
    assert park_today["median_wait_minutes"] == round(waits[1] / 60, 1)
    assert list(today["by_district"]) == ["Bogor Tengah"]
    assert found["totals"]["joined"] == 8 and found["totals"]["longest_line"] == 3
    assert found["by_district"]["Bogor Barat"]["longest_wait_minutes"] == 30.0
    assert found["by_district"]["Bogor Barat"]["median_wait_minutes"] == 25.0

    exported = await client.get("/api/city/line/history.csv", headers=official, params=period)
    assert exported.status_code == 200, exported.text
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["day"], r["district"], r["joined"], r["longest_line"]) for r in rows] == [
        (before.isoformat(), "Bogor Barat", "4", "2"), (yesterday.isoformat(), "Bogor Barat", "1", "2"),
        (period["to"], "Bogor Tengah", "3", "3")]
    assert "0857" not in exported.text


async def test_the_histories_refuse_bad_periods_and_everyone_but_officials(
    client, make_venue, issue_token
):
    venue, _ = await make_venue(capacity=5)
    official = await issue_token("official")
    for path in ("/api/city/bookings/history", "/api/city/bookings/history.csv",
                 "/api/city/line/history", "/api/city/line/history.csv"):
        for params, field in (({"from": "23-11-2026"}, "from"),
                              ({"from": "2026-11-23", "to": "2026-11-01"}, "to"),
                              ({"from": "2025-01-01", "to": "2026-06-01"}, "to")):
            bad = await client.get(path, headers=official, params=params)
            assert bad.status_code == 422, (path, params)
            assert (bad.json()["error"]["code"], bad.json()["error"]["field"]) == (
                "invalid_input", field), path
        assert (await client.get(path)).status_code == 401
        for role, venue_id in (("manager", venue.id), ("staff", venue.id), ("monitor", None)):
            refused = await client.get(path, headers=await issue_token(role, venue_id))
            assert refused.status_code == 403, (path, role)
        empty = await client.get(path, headers=official)
        assert empty.status_code == 200, empty.text
