"""Today's statistics in Redis, the hourly rollup into SQL, the history API and the CSV exports."""

import csv
import io
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from occupancy import redis_keys as keys
from occupancy.stats import rollup
from occupancy.stats.calendar import day_of, day_start, local_date, minute_of
from occupancy.stats.models import CityHour, VenueHour
from occupancy.stats.today import FRESH_MINUTES, dense_series
from tests.visits.helpers import check_in, visitor

SECRET_PERSON = {"name": "Siti Rahayu Wulandari", "phone": "0857 1122 3344",
                 "email": "siti.rahayu@example.id"}


async def _day(client, services, make_venue, issue_token):
    """Two parties in, one refused (full), one out, one refused at the door (fever)."""
    venue, code = await make_venue(capacity=5)
    staff = await issue_token("staff", venue.id)
    first = await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=2))
    second = await client.post(f"/api/venues/{code}/check-ins",
                               json=visitor(party_size=3, **SECRET_PERSON))
    refused = await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1))
    assert (first.status_code, second.status_code, refused.status_code) == (201, 201, 409)
    out = await client.post(f"/api/tickets/{first.json()['ticket']}/check-out")
    assert out.status_code == 200
    fever = await client.post(f"/api/venues/{venue.id}/screenings", headers=staff,
                              json={"ticket": second.json()["ticket"], "temperature": 38.4})
    assert fever.json()["result"] == "refused_fever"
    return venue, code


async def test_per_minute_counters_match_the_events(client, services, make_venue, issue_token):
    venue, _ = await _day(client, services, make_venue, issue_token)
    manager = await issue_token("manager", venue.id)

    snapshot = (await client.get(f"/api/venues/{venue.id}/today", headers=manager)).json()

    assert snapshot["type"] == "snapshot" and snapshot["count"] == 0
    assert snapshot["venue"]["id"] == venue.id and snapshot["capacity"] == 5
    today = snapshot["today"]
    assert {k: today[k] for k in ("entries", "exits", "visitors_in", "visitors_out",
                                  "refused_full", "refused_fever")} == {
        "entries": 2, "exits": 2, "visitors_in": 5, "visitors_out": 5,
        "refused_full": 1, "refused_fever": 1}
    assert today["avg_stay_minutes"] is not None and today["avg_stay_minutes"] < 1
    assert len(today["per_minute"]) == 60
    assert sum(m[1] for m in today["per_minute"]) == 2
    assert sum(m[2] for m in today["per_minute"]) == 2
    assert snapshot["series"][-1][1] == 0
    assert [e["event"] for e in snapshot["recent"]] == ["fever", "out", "full", "in", "in"]
    assert [e["party"] for e in snapshot["recent"]] == [3, 2, 1, 3, 2]
    text = str(snapshot)
    for secret in (*SECRET_PERSON.values(), "Budi", "budi@example.id", "081234567890"):
        assert secret not in text

    # The same numbers straight from the per-minute hash the scripts keep.
    minutes_key = keys.minute_stats(venue.id, day_of(time.time(), services.capacity.tz))
    fields = await services.redis.hgetall(minutes_key)
    by_kind: dict[str, int] = {}
    for name, value in fields.items():
        kind = name.decode().split(":")[1]
        if kind in ("e", "x", "vi", "vo", "rf", "rv"):
            by_kind[kind] = by_kind.get(kind, 0) + int(value)
    assert by_kind == {"e": 2, "x": 2, "vi": 5, "vo": 5, "rf": 1, "rv": 1}
    assert await services.redis.ttl(minutes_key) > 24 * 3600  # kept about two days


async def test_rollup_writes_history_and_the_history_api_reads_it(client, services, make_venue,
                                                                 issue_token):
    venue, _ = await _day(client, services, make_venue, issue_token)
    official = await issue_token("official")

    written = await rollup.rollup_recent(services.redis, services.sessionmaker, services.capacity.tz)
    again = await rollup.rollup_recent(services.redis, services.sessionmaker, services.capacity.tz)

    assert written == again >= 1  # idempotent: the same hours overwritten, not added
    async with services.sessionmaker() as session:
        hours = list((await session.execute(
            select(VenueHour).where(VenueHour.venue_id == venue.id))).scalars())
    assert sum(h.entries for h in hours) == 2 and sum(h.exits for h in hours) == 2
    assert sum(h.refused_full for h in hours) == 1 and sum(h.refused_fever for h in hours) == 1
    assert max(h.peak_count for h in hours) == 5
    assert sum(h.minutes_full for h in hours) >= 1  # it reached its capacity of 5

    for by in ("hour", "day"):
        answer = await client.get(f"/api/city/history?by={by}", headers=official)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert sum(p["entries"] for p in body["periods"]) == 2
        assert sum(p["refused_full"] for p in body["periods"]) == 1
        [row] = [v for v in body["venues"] if v["id"] == venue.id]
        assert row["entries"] == 2 and row["minutes_full"] >= 1 and row["peak_count"] == 5

    exported = await client.get("/api/city/history.csv?by=day", headers=official)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    [row] = [r for r in rows if r["venue_code"] == venue.code]
    assert row["entries"] == "2" and row["refused_fever"] == "1"

    # The venue's own history, for its manager (not another venue's).
    manager = await issue_token("manager", venue.id)
    own = await client.get(f"/api/venues/{venue.id}/history?by=hour", headers=manager)
    assert own.status_code == 200, own.text
    assert sum(p["entries"] for p in own.json()["periods"]) == 2
    assert {p["venue_code"] for p in own.json()["periods"]} == {venue.code}
    other, _ = await make_venue()
    elsewhere = await client.get(f"/api/venues/{venue.id}/history",
                                 headers=await issue_token("manager", other.id))
    assert elsewhere.status_code == 403

    # Hours are written as the city's clock shows them, with the offset the venue's CSV uses.
    hourly = await client.get("/api/city/history.csv?by=hour", headers=official)
    visits = await client.get(f"/api/venues/{venue.id}/visits.csv",
                              headers=await issue_token("manager", venue.id))
    offset = datetime.now(services.capacity.tz).strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}"
    hour_start = next(csv.DictReader(io.StringIO(hourly.text)))["period_start"]
    checked_in = next(csv.DictReader(io.StringIO(visits.text)))["checked_in_at"]
    assert hour_start.endswith(offset) and checked_in.endswith(offset), (hour_start, checked_in)


async def test_rollup_from_the_command_line(services, make_venue, client):
    import asyncio
    import os
    import sys

    venue, code = await make_venue(capacity=10)
    await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=4))
    env = dict(os.environ, OCCUPANCY_DATABASE_URL=services.settings.database_url,
               OCCUPANCY_REDIS_URL=services.settings.redis_url)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "occupancy.cli", "rollup", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    assert b"venue-hours" in output
    async with services.sessionmaker() as session:
        [hour] = list((await session.execute(
            select(VenueHour).where(VenueHour.venue_id == venue.id))).scalars())
    assert hour.entries == 1 and hour.visitors_in == 4 and hour.peak_count == 4


async def test_history_needs_an_official_and_valid_dates(client, make_venue, issue_token):
    venue, _ = await make_venue()
    manager = await issue_token("manager", venue.id)
    official = await issue_token("official")
    assert (await client.get("/api/city/history")).status_code == 401
    assert (await client.get("/api/city/history", headers=manager)).status_code == 403
    bad = await client.get("/api/city/history?from=23-11-2026", headers=official)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"
    backwards = await client.get("/api/city/history?from=2026-11-23&to=2026-11-01", headers=official)
    assert backwards.status_code == 422
    assert (await client.get("/api/city/history?by=week", headers=official)).status_code == 422


async def test_visits_csv_opens_as_csv_and_holds_no_personal_data(client, services, make_venue,
                                                                 issue_token):
    venue, _ = await _day(client, services, make_venue, issue_token)
    manager = await issue_token("manager", venue.id)

    answer = await client.get(f"/api/venues/{venue.id}/visits.csv", headers=manager)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 2
    assert sorted(int(r["party_size"]) for r in rows) == [2, 3]
    assert sorted(r["checkout_reason"] for r in rows) == ["fever", "visitor"]
    assert [r["temperature"] for r in rows if r["checkout_reason"] == "fever"] == ["38.4"]
    assert all(r["checked_in_at"] and r["checked_out_at"] for r in rows)
    for secret in (*SECRET_PERSON.values(), "085711223344", "Budi Santoso", "budi@example.id",
                   "081234567890", "@"):
        assert secret not in answer.text
    assert not {"name", "phone", "email", "visitor_name", "visitor_phone"} & set(rows[0])


async def test_visits_csv_of_another_day_and_who_may_export(client, make_venue, issue_token):
    venue, _ = await make_venue()
    other, _ = await make_venue()
    manager = await issue_token("manager", venue.id)
    staff = await issue_token("staff", venue.id)
    empty = await client.get(f"/api/venues/{venue.id}/visits.csv?date=2020-01-01", headers=manager)
    assert empty.status_code == 200 and len(list(csv.reader(io.StringIO(empty.text)))) == 1
    bad = await client.get(f"/api/venues/{venue.id}/visits.csv?date=yesterday", headers=manager)
    assert bad.status_code == 422
    assert (await client.get(f"/api/venues/{venue.id}/visits.csv", headers=staff)).status_code == 403
    assert (await client.get(f"/api/venues/{other.id}/visits.csv", headers=manager)).status_code == 403
    assert (await client.get(f"/api/venues/{other.id}/today", headers=staff)).status_code == 403


async def test_a_paused_venue_refuses_with_a_clear_message(client, services, make_venue, issue_token):
    venue, code = await make_venue()
    manager = await issue_token("manager", venue.id)
    assert (await client.patch(f"/api/venues/{venue.id}", json={"paused": True},
                               headers=manager)).status_code == 200
    refused = await client.post(f"/api/venues/{code}/check-ins", json=visitor())
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "venue_paused"
    assert "paused" in refused.json()["error"]["message"]
    snapshot = (await client.get(f"/api/venues/{venue.id}/today", headers=manager)).json()
    assert snapshot["paused"] is True and snapshot["today"]["entries"] == 0
    assert minute_of(time.time()) == snapshot["today"]["per_minute"][-1][0]


async def test_rollup_counts_the_minutes_a_venue_ran_full(services, make_venue):
    """A party fills the venue 50 minutes into the previous hour and leaves 30 minutes later."""
    venue, _ = await make_venue(capacity=5)
    hour = int(time.time()) // 3600 * 3600
    store = services.capacity
    assert (await store.admit(venue.id, "a" * 64, 5, "v1", hour - 3000)).status == "ok"
    assert (await store.admit(venue.id, "b" * 64, 1, "v2", hour - 2900)).status == "full"
    assert (await store.release(venue.id, "a" * 64, "visitor", hour - 1200)).status == "ok"

    await rollup.rollup_recent(services.redis, services.sessionmaker, store.tz, now=hour + 60)

    async with services.sessionmaker() as session:
        hours = list((await session.execute(
            select(VenueHour).where(VenueHour.venue_id == venue.id))).scalars())
    assert [h.hour_start.timestamp() for h in hours] == [hour - 3600]  # the quiet hour is not written
    [h] = hours
    assert (h.entries, h.exits, h.visitors_in, h.refused_full, h.peak_count) == (1, 1, 5, 1, 5)
    assert h.minutes_full == 31  # from the minute it filled to the minute it emptied, inclusive
    assert h.stays == 1 and h.stay_seconds == 1800


@pytest.mark.parametrize("when", ["now", "just after local midnight"])
async def test_the_hubs_short_read_gives_the_last_minutes_of_the_window(services, make_venue, when):
    venue, _ = await make_venue()
    reader = services.today
    now = time.time()
    if when != "now":  # 00:05 yesterday: the window's first minutes are the day before's
        now = reader.midnight(now - 86400) + 5 * 60 + 7
    minute = minute_of(now)
    # Entries 40, 10 and 1 minutes ago and in this minute, written as the scripts write them:
    # each in its own day's hash (just after local midnight, the first ones are yesterday's).
    for ago, entries in ((40, 3), (10, 2), (1, 4), (0, 1)):
        at = minute - 60 * ago
        await services.redis.hset(keys.minute_stats(venue.id, day_of(at, services.capacity.tz)),
                                  f"{at}:e", entries)

    short = (await reader.venues([venue.id], now, minutes=FRESH_MINUTES, recent=False))[venue.id]
    full = (await reader.venues([venue.id], now))[venue.id]

    assert short.per_minute == full.per_minute[-FRESH_MINUTES:] == [[minute - 60, 4, 0], [minute, 1, 0]]
    assert [m[1] for m in full.per_minute if m[1]] == [3, 2, 4, 1]
    assert short.recent == [] and short.count == full.count and short.today == full.today


async def test_rollup_reads_a_city_in_chunks_and_misses_no_venue(services, make_venue, monkeypatch):
    """Five venues read two at a time (chunks of 2, 2 and 1): every venue's hour is written."""
    monkeypatch.setattr(rollup, "CHUNK_VENUES", 2)
    venues = [(await make_venue(capacity=10))[0] for _ in range(5)]
    for party, venue in enumerate(venues, start=1):
        await check_in(services, venue, party)

    await rollup.rollup_recent(services.redis, services.sessionmaker, services.capacity.tz)

    async with services.sessionmaker() as session:
        hours = list((await session.execute(select(VenueHour))).scalars())
    by_venue = {h.venue_id: (h.entries, h.visitors_in, h.peak_count) for h in hours}
    assert by_venue == {venue.id: (1, party, party) for party, venue in enumerate(venues, start=1)}


def test_hours_of_counts_quiet_minutes_between_events():
    """A venue full from 10:20 to 11:10 with events only at those two minutes: the quiet minutes
    between them count as full, in both hours (the minute it emptied too), and the count carries
    over the hour boundary."""
    ten = 1_795_514_400  # an hour boundary
    minutes = rollup.Minutes(
        fields={ten + 20 * 60: {"e": 1, "vi": 4, "p": 4}, ten + 70 * 60: {"x": 1, "vo": 4}},
        counts={ten + 20 * 60: 4, ten + 70 * 60: 0},
        carried=0,
    )
    first, second = rollup.hours_of(minutes, 4, ten, ten + 7200, until=ten + 7199)
    assert (first["entries"], first["peak_count"], first["minutes_full"]) == (1, 4, 40)
    assert (second["exits"], second["peak_count"], second["minutes_full"]) == (1, 4, 11)
    # Minutes after "now" have not happened: the full stretch stops at 10:45.
    (only,) = rollup.hours_of(minutes, 4, ten, ten + 3600, until=ten + 45 * 60)
    assert only["minutes_full"] == 26


async def test_the_city_peak_is_the_most_people_at_once_not_the_sum_of_the_venues_peaks(
    client, services, make_venue, issue_token
):
    """A mall holds 6 at 10:05 and empties by 10:20; a stadium holds 4 from 10:30. Their peaks add
    up to 10, but the city never held more than 6 at once, nor at 11:00 more than the 4 carried
    over the hour."""
    mall, _ = await make_venue(capacity=10)
    stadium, _ = await make_venue(capacity=10)
    hour = int(time.time()) // 3600 * 3600 - 2 * 3600  # two hours ago, whole
    store = services.capacity
    assert (await store.admit(mall.id, "a" * 64, 6, "v1", hour + 5 * 60)).status == "ok"
    assert (await store.release(mall.id, "a" * 64, "visitor", hour + 20 * 60)).status == "ok"
    assert (await store.admit(stadium.id, "b" * 64, 4, "v2", hour + 30 * 60)).status == "ok"

    await rollup.rollup_range(services.redis, services.sessionmaker, store.tz, hour, hour + 7200,
                              now=hour + 7200)

    async with services.sessionmaker() as session:
        city = list((await session.execute(select(CityHour).order_by(CityHour.hour_start))).scalars())
    assert [(h.hour_start.timestamp(), h.peak_count) for h in city] == [(hour, 6), (hour + 3600, 4)]
    official = await issue_token("official")
    # The history reads the city's days (settings.timezone), not UTC's; the two hours may end on
    # the city's next day.
    days = f"from={local_date(hour, store.tz)}&to={local_date(hour + 7199, store.tz)}"
    answer = (await client.get(f"/api/city/history?by=hour&{days}", headers=official)).json()
    periods = {p["start"]: p for p in answer["periods"]}
    # Hours are given on the city's clock, with its offset.
    first = datetime.fromtimestamp(hour, UTC).astimezone(store.tz).isoformat()
    assert periods[first]["peak_count"] == 6 and periods[first]["entries"] == 2
    assert {v["id"]: v["peak_count"] for v in answer["venues"]} == {mall.id: 6, stadium.id: 4}
    by_day = (await client.get(f"/api/city/history?by=day&{days}", headers=official)).json()
    assert by_day["periods"][0]["start"] == local_date(hour, store.tz).isoformat()
    assert by_day["periods"][0]["peak_count"] == 6


def test_city_hours_add_the_venues_up_minute_by_minute():
    """Two venues (counts at each minute's end, and their peaks within a minute): the city's peak
    is the highest sum at any minute's end, or a venue's own peak within a minute on top of the
    others' counts, whichever is higher."""
    ten = 1_795_514_400  # an hour boundary
    m = 60
    first = rollup.Minutes(
        # in at 10:05 (3), a party of 5 in and out within 10:10, out at 10:50; 2 carried in
        fields={ten + 5 * m: {"e": 1, "p": 5}, ten + 10 * m: {"e": 1, "x": 1, "p": 10},
                ten + 50 * m: {"x": 1}},
        counts={ten - 30 * m: 2, ten + 5 * m: 5, ten + 10 * m: 5, ten + 50 * m: 2},
        carried=0,
    )
    second = rollup.Minutes(
        fields={ten + 10 * m: {"e": 1, "p": 4}, ten + 70 * m: {"x": 1}},
        counts={ten + 10 * m: 4, ten + 70 * m: 0},
        carried=0,
    )
    hours = rollup.city_hours([first, second], ten, ten + 3 * 3600, until=ten + 3 * 3600)
    # 10:10: 5 + 4 at the minute's end, and the first venue 5 above its end within it: 14.
    # 11:00-12:00 starts with 2 + 4 carried over; from 12:00 the first venue's 2 stay, no events.
    assert [(h["hour_start"].timestamp() - ten, h["peak_count"]) for h in hours] == [
        (0, 14), (3600, 6), (7200, 2)]
    # One venue empties as another fills, in the same minute: the city held 10 all along, not 20.
    leaving = rollup.Minutes({ten + 10 * m: {"x": 1}}, {ten - m: 10, ten + 10 * m: 0}, 0)
    filling = rollup.Minutes({ten + 10 * m: {"e": 1, "p": 10}}, {ten + 10 * m: 10}, 0)
    assert [h["peak_count"] for h in rollup.city_hours([leaving, filling], ten, ten + 3600,
                                                       until=ten + 3600)] == [10]
    # Minutes after "now" have not happened; an empty city writes nothing.
    assert [h["peak_count"] for h in rollup.city_hours([first, second], ten, ten + 3600,
                                                       until=ten + 9 * m)] == [5]
    assert rollup.city_hours([rollup.Minutes({}, {}, 0)], ten, ten + 3600, until=ten + 3600) == []


def test_city_history_takes_an_hour_without_a_city_row_as_the_sum_of_its_venues_peaks():
    """An hour rolled up by a process older than revision 0004 has venue rows but no city row."""
    from occupancy.stats import history
    from occupancy.stats.models import CityHour, VenueHour
    from occupancy.venues.models import Venue

    ten = datetime(2026, 11, 24, 10, tzinfo=UTC)
    eleven = datetime(2026, 11, 24, 11, tzinfo=UTC)
    counts = dict(entries=1, exits=0, visitors_in=1, visitors_out=0, refused_full=0,
                  refused_fever=0, minutes_full=0, stay_seconds=0, stays=0)
    venues = [Venue(id=i, code=f"v{i}", name=f"V{i}", district="", category="shop") for i in (1, 2)]
    rows = [(VenueHour(venue_id=v.id, hour_start=at, peak_count=peak, **counts), v)
            for at in (ten, eleven) for v, peak in zip(venues, (3, 4), strict=True)]
    period = history.parse_period("2026-11-24", None, "hour", ten.date())
    body = history.city_history(rows, [CityHour(hour_start=eleven, peak_count=5)], period, UTC)
    assert [(p["start"], p["peak_count"]) for p in body["periods"]] == [
        (ten.isoformat(), 7), (eleven.isoformat(), 5)]


async def test_the_city_series_starts_at_midnight_with_the_people_there_since_yesterday(
    services, make_venue
):
    """A station holds 3 people since yesterday evening, 2 more come today, and a mall has no one
    and no events: the city's line starts at midnight at 3, not at 0 with the first check-in."""
    station, _ = await make_venue(capacity=10)
    mall, _ = await make_venue(capacity=10)
    store, reader, now = services.capacity, services.today, time.time()
    midnight = int(day_start(local_date(now, store.tz), store.tz).timestamp())
    assert (await store.admit(station.id, "a" * 64, 3, "v1", midnight - 3600)).status == "ok"
    assert (await store.admit(station.id, "b" * 64, 2, "v2", now)).status == "ok"
    assert (await store.admit(mall.id, "c" * 64, 1, "v3", now)).status == "ok"
    assert (await store.release(mall.id, "c" * 64, "visitor", now)).status == "ok"

    counts = await reader.counts([station.id, mall.id])
    series = await reader.city_series(counts, now)

    if minute_of(now) != midnight:  # in midnight's own minute today's check-in falls in it too
        assert series[midnight] == 3
    assert series[minute_of(now)] == 5
    assert dense_series(series, minute_of(now))[0][0] == midnight
    # The station's own chart starts at midnight too.
    chart = (await reader.venue(station.id, now, series=True)).series
    assert chart[0] == [midnight, 3 if minute_of(now) != midnight else 5] and chart[-1][1] == 5
