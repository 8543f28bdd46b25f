"""Time's jobs with several processes: two servers of two workers each on one Redis and one SQL
database run the expiry and the line's offers by themselves; each booking whose hold ran out is
recorded expired once (in SQL and in the metrics summed over every worker), and an offer of the
line that ran out passes to the next party once. On a single Redis and a cluster, SQLite and
PostgreSQL."""

import asyncio
import re
import time
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from occupancy.bookings.models import Booking
from occupancy.line.models import LineEntry
from tests.bookings.helpers import JAKARTA, booker
from tests.conftest import LiveServer
from tests.crowd import crowd
from tests.redis_kinds import redis_kind  # noqa: F401 (runs the module on a cluster too)

BOOKINGS = 12
WAIT = 150  # seconds: a generous bound for a condition on a busy machine
OFFER_SECONDS = 10  # long enough for the test to see an offer and claim it on a busy machine


@pytest.fixture
async def servers(settings, services):
    """Two servers of two workers each, sharing the test's Redis and database."""
    env = {"OCCUPANCY_LINE_OFFER_MINUTES": str(OFFER_SECONDS / 60)}
    started = await asyncio.gather(*(asyncio.to_thread(LiveServer(settings, workers=2, **env).start)
                                     for _ in range(2)))
    yield started
    for server in started:
        await asyncio.to_thread(server.stop)
        print(server.errors())


async def until(condition, what: str):
    """Wait for ``condition()`` (async) to hold, checking every 0.2 s, up to WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while not (value := await condition()):
        assert time.monotonic() < deadline, f"not within {WAIT} s: {what}"
        await asyncio.sleep(0.2)
    return value


async def metric(servers, headers, name: str, labels: str, combine=sum) -> float:
    """The counter summed over both servers (each server's /metrics sums its own workers)."""
    values = []
    async with httpx.AsyncClient(timeout=30) as http:
        for server in servers:
            text = (await http.get(f"{server.url}/metrics", headers=headers)).text
            match = re.search(rf"^{re.escape(name + labels)} ([0-9.e+]+)$", text, re.MULTILINE)
            assert match, f"{name}{labels} not in {server.url}/metrics"
            values.append(float(match[1]))
    return combine(values)


def slot_ending_soon() -> datetime:
    """The start (city time) of a slot whose one-minute hold ends 40 to 100 s from now (time
    enough to book on a busy machine)."""
    start = datetime.now(JAKARTA).replace(second=0, microsecond=0)
    if datetime.now(JAKARTA).second >= 20:
        start += timedelta(minutes=1)  # bookable before it starts; its hold then ends later
    if start.hour == 23 and start.minute > 50:
        pytest.skip("the test's slot would cross local midnight")
    return start


async def test_each_expiry_is_recorded_once_and_a_lapsed_offer_passes_once_with_four_workers(
    servers, client, services, make_venue, issue_token
):
    monitor = await issue_token("monitor")
    venue, signed = await make_venue(capacity=50, max_party=4)
    start = slot_ending_soon()
    plan = {"ranges": [f"{start:%H:%M}-{start + timedelta(minutes=5):%H:%M}"], "capacity": 50,
            "hold_minutes": 1, "per_phone": 1}
    answer = await client.put(f"/api/venues/{venue.id}/slots", json=plan,
                              headers=await issue_token("manager", venue.id))
    assert answer.status_code == 200, answer.text
    slot = f"{start:%Y%m%d-%H%M}"
    # Booked through both servers at once (each request on its own connection: every worker).
    answers = await asyncio.gather(*(
        crowd(server.url, [("POST", f"/api/venues/{signed}/bookings",
                            booker(slot, n, party_size=1 + n % 3))
                           for n in range(i, BOOKINGS, 2)])
        for i, server in enumerate(servers)))
    assert [a.status_code for part in answers for a in part] == [201] * BOOKINGS

    # The line of another venue, full: A, B and C wait; a place freed is offered to A, who lets
    # the offer run out; it passes to B (once), C still waits.
    full, full_signed = await make_venue(capacity=2, max_party=4)
    async with httpx.AsyncClient(base_url=servers[0].url, timeout=60) as http:
        tickets = []
        for n in range(2):
            walked = await http.post(f"/api/venues/{full_signed}/check-ins",
                                     json={"name": "Budi", "phone": f"0813 7777 {n:04d}", "party_size": 1})
            assert walked.status_code == 201, walked.text
            tickets.append(walked.json()["ticket"])
        line = []
        for n, server in enumerate((servers[0], servers[1], servers[0])):
            joined = await http.post(f"{server.url}/api/venues/{full_signed}/line",
                                     json={"party_size": 1, "phone": f"0813 6666 {n:04d}"})
            assert joined.status_code == 201, joined.text
            line.append(joined.json()["line"])
        left = await http.post(f"{servers[1].url}/api/check-outs", json={"ticket": tickets[0]})
        assert left.status_code == 200, left.text

        async def state(code: str) -> str:
            answer = await http.post("/api/line-status", json={"line": code})
            assert answer.status_code == 200, answer.text
            return answer.json()["state"]

        async def states() -> list[str]:
            return [await state(code) for code in line]

        # (A's offer is not waited for alone: a poll on a busy machine may miss its seconds; the
        # rows checked below show it was made, once.)
        await until(lambda: _equal(states, ["passed", "offered", "waiting"]), "A's offer passes to B")
        claimed = await http.post(f"/api/venues/{full_signed}/check-ins",
                                  json={"line": line[1], "name": "Budi", "phone": "0813 7777 0900",
                                        "party_size": 0})
        assert claimed.status_code == 201, claimed.text
        assert await states() == ["passed", "claimed", "waiting"]
    async with services.sessionmaker() as session:
        entries = (await session.execute(select(LineEntry).where(LineEntry.venue_id == full.id)
                                         .order_by(LineEntry.seq))).scalars().all()
    assert [(e.offered_at is not None, e.passed_at is not None, e.claimed_at is not None)
            for e in entries] == [(True, True, False), (True, False, True), (False, False, False)]
    lag = (entries[1].offered_at - entries[0].offer_until).total_seconds()
    print(f"the lapsed offer passed to the next party {lag:.1f} s after it ran out")
    assert await metric(servers, monitor, "occupancy_line_events_total", '{event="offered"}') == 2
    assert await metric(servers, monitor, "occupancy_line_events_total", '{event="passed"}') == 1

    # By now (or soon) every booking's hold has run out: each is recorded expired once.
    async def expired_in_sql() -> dict[str, datetime]:
        async with services.sessionmaker() as session:
            rows = (await session.execute(select(Booking.booking_hash, Booking.expired_at).where(
                Booking.venue_id == venue.id, Booking.expired_at.is_not(None)))).all()
        return {row.booking_hash: row.expired_at for row in rows} if len(rows) == BOOKINGS else {}

    first_seen = await until(expired_in_sql, "every booking expired in SQL")
    expired = '{outcome="expired"}'
    await until(lambda: _equal(lambda: metric(servers, monitor, "occupancy_bookings_total", expired),
                               BOOKINGS), "the expiries counted")
    # Three more runs of the job later (in whichever processes took its lock), nothing changed.
    after = time.time() + 3
    job = '{task="booking expiry and slot ends"}'
    await until(lambda: _at_least(servers, monitor, "occupancy_periodic_last_success_seconds", job,
                                  after), "three more runs of the expiry job")
    assert await expired_in_sql() == first_seen
    assert await metric(servers, monitor, "occupancy_bookings_total", expired) == BOOKINGS
    assert all(at >= start.astimezone(at.tzinfo) + timedelta(minutes=1) for at in first_seen.values())


async def _equal(read, expected) -> bool:
    return await read() == expected


async def _at_least(servers, headers, name: str, labels: str, floor: float) -> bool:
    return await metric(servers, headers, name, labels, combine=max) >= floor
