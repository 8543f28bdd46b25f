"""An acknowledged visit is in SQL; when SQL fails, Redis is put back and the visitor told."""

import asyncio
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from occupancy import redis_keys as keys
from occupancy.stats.calendar import day_of, minute_of
from occupancy.visits.journal import TicketConflict
from occupancy.visits.writes import NewVisit

from .helpers import live_count, visit_rows, visitor


async def _break_visits_table(services):
    async with services.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE visits RENAME TO visits_away"))


async def _mend_visits_table(services):
    async with services.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE visits_away RENAME TO visits"))


async def _today(services, venue_id: int):
    """Today's totals, the entries and exits of the last hour's minutes, and the recent events."""
    live = await services.today.venue(venue_id, time.time())
    entries, exits = (sum(m[i] for m in live.per_minute) for i in (1, 2))
    return live.today, (entries, exits), [(e["event"], e["party"]) for e in live.recent]


async def test_when_sql_fails_the_reservation_is_released_and_the_visitor_told(
    client, services, make_venue
):
    venue, code = await make_venue(capacity=4)
    assert (await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1))).status_code == 201
    await _break_visits_table(services)
    try:
        response = await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=3))
    finally:
        await _mend_visits_table(services)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert "nothing was recorded" in response.json()["error"]["message"]
    assert await live_count(services, venue.id) == 1
    # Nor does the refused party count in today's statistics or the dashboard's recent events.
    today, this_minute, recent = await _today(services, venue.id)
    assert (today.entries, today.visitors_in) == (1, 1)
    assert this_minute == (1, 0) and recent == [("in", 1)]
    # The places were not lost: the same party can come in now.
    assert (await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=3))).status_code == 201


async def test_when_sql_fails_on_check_out_the_visit_stays_open(client, services, make_venue):
    venue, code = await make_venue(capacity=3)
    ticket = (await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=2))).json()["ticket"]
    await _break_visits_table(services)
    try:
        response = await client.post(f"/api/tickets/{ticket}/check-out")
    finally:
        await _mend_visits_table(services)
    assert response.status_code == 503
    assert await live_count(services, venue.id) == 2
    today, this_minute, recent = await _today(services, venue.id)
    assert (today.exits, today.visitors_out, today.stays, today.stay_seconds) == (0, 0, 0, 0)
    assert this_minute == (1, 0) and recent == [("in", 2)]
    retry = await client.post(f"/api/tickets/{ticket}/check-out")
    assert retry.status_code == 200 and retry.json()["replayed"] is False
    assert await live_count(services, venue.id) == 0
    today, this_minute, recent = await _today(services, venue.id)
    assert (today.exits, today.visitors_out, today.stays) == (1, 2, 1)
    assert recent == [("out", 2), ("in", 2)]


async def test_concurrent_writes_are_grouped_into_few_commits(client, services, make_venue):
    venue, code = await make_venue(capacity=1000)
    before = sql_batches()
    responses = await asyncio.gather(*[
        client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1)) for _ in range(200)
    ])
    assert all(r.status_code == 201 for r in responses)
    assert len(await visit_rows(services, venue.id)) == 200
    assert sql_batches() - before < 100, "group commit should batch concurrent writes"


def sql_batches() -> float:
    """SQL transactions of the group commit so far, as /metrics counts them."""
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("occupancy_sql_batches_total") or 0.0


async def test_one_bad_write_does_not_fail_its_batch(services, make_venue):
    """A batch with a row SQL rejects is retried row by row: only that row fails."""
    from datetime import UTC, datetime

    from occupancy.visits.writes import NewVisit

    venue, _ = await make_venue()

    def row(i: int, venue_id: int) -> NewVisit:
        return NewVisit(id=f"v{i}", venue_id=venue_id, ticket_hash=f"{i:064d}", party_size=1,
                        checked_in_at=datetime.now(UTC), personal=b"sealed",
                        personal_key_id="k", phone_index="i")

    results = await asyncio.gather(
        services.journal.write(row(1, venue.id)),
        services.journal.write(row(2, 999_999)),  # no such venue: foreign key fails
        services.journal.write(row(3, venue.id)),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Exception)
    assert {r.id for r in await visit_rows(services, venue.id)} == {"v1", "v3"}


async def test_two_processes_closing_the_same_visits_do_not_deadlock(services, make_venue):
    """Retried check-outs reach two workers, whose batches list the rows in opposite orders."""
    from datetime import UTC, datetime

    from occupancy.db import make_engine
    from occupancy.visits.journal import Journal
    from occupancy.visits.writes import NewVisit, VisitClosed

    venue, _ = await make_venue()
    hashes = [f"{i:064x}" for i in range(3000)]
    await asyncio.gather(*[
        services.journal.write(NewVisit(
            id=f"v{i}", venue_id=venue.id, ticket_hash=h, party_size=1,
            checked_in_at=datetime.now(UTC), personal=b"sealed", personal_key_id="k",
            phone_index="i"))
        for i, h in enumerate(hashes)
    ])
    other_engine = make_engine(services.settings.database_url)
    other = Journal(other_engine)
    other.start()
    try:
        now = datetime.now(UTC)
        results = await asyncio.gather(
            *[services.journal.write(VisitClosed(h, now, "visitor")) for h in hashes],
            *[other.write(VisitClosed(h, now, "staff")) for h in reversed(hashes)],
            return_exceptions=True,
        )
    finally:
        await other.close()
        await other_engine.dispose()
    assert [r for r in results if r is not None] == []
    rows = await visit_rows(services, venue.id)
    assert all(row.checked_out_at is not None for row in rows)


async def test_in_one_batch_only_the_ticket_of_another_visit_fails(services, make_venue):
    """The journal finds the clashing rows of a batch (by RETURNING or, on SQLite, by the count
    of rows inserted) and fails those alone; a replay of the same visit is fine."""
    venue, _ = await make_venue()
    now = datetime.now(UTC)

    def visit(visit_id: str, ticket_hash: str) -> NewVisit:
        return NewVisit(id=visit_id, venue_id=venue.id, ticket_hash=ticket_hash, party_size=1,
                        checked_in_at=now)

    await services.journal.write(visit("a" * 32, "1" * 64))
    batch = [visit(f"{i:032x}", f"{i + 100:064x}") for i in range(5)]
    batch += [visit("b" * 32, "1" * 64), visit("a" * 32, "1" * 64)]  # another visit; a replay
    before = sql_batches()
    results = await asyncio.gather(*[services.journal.write(w) for w in batch], return_exceptions=True)

    assert sql_batches() - before <= 2  # written together, not one by one
    assert results[:5] == [None] * 5 and results[6] is None
    assert isinstance(results[5], TicketConflict)
    rows = {row.id: row.ticket_hash for row in await visit_rows(services, venue.id)}
    assert rows == {"a" * 32: "1" * 64, **{w.id: w.ticket_hash for w in batch[:5]}}


async def test_check_ins_go_on_after_postgresql_dropped_the_journals_connections(
        client, services, make_venue):
    if services.engine.dialect.name != "postgresql":
        pytest.skip("the journal's own connections are PostgreSQL's")
    venue, code = await make_venue(capacity=10)
    assert (await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1))).status_code == 201
    async with services.engine.connect() as conn:
        dropped = (await conn.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"))).scalar()
    assert dropped >= 1

    statuses = [(await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1))).status_code
                for _ in range(3)]

    # The batch on a dropped connection is tried again on a new one: nobody notices.
    assert statuses == [201, 201, 201]
    assert await live_count(services, venue.id) == 4 == len(await visit_rows(services, venue.id))


async def test_an_undo_takes_back_only_its_own_event_and_leaves_the_right_count(services, make_venue):
    """A visitor and a walk-in of the same size come in at the same instant, and a fever check-out
    and an ordinary one begin together; undoing the visitor's check-in and the ordinary check-out
    (before its release) leaves the walk-in's and the fever refusal's events, and this minute ends
    at the true count."""
    venue, _ = await make_venue(capacity=10)
    store, now = services.capacity, time.time()
    assert (await store.admit(venue.id, "a" * 64, 2, "v1", now, "visitor")).status == "ok"
    assert (await store.admit(venue.id, "b" * 64, 2, "v2", now, "walkin")).status == "ok"
    assert (await store.admit(venue.id, "c" * 64, 1, "v3", now)).status == "ok"
    assert (await store.admit(venue.id, "d" * 64, 1, "v4", now)).status == "ok"
    assert (await store.begin_check_out(venue.id, "c" * 64, "fever", now + 1)).status == "ok"
    assert (await store.release(venue.id, "c" * 64, "fever", now + 1)).status == "ok"
    assert (await store.begin_check_out(venue.id, "d" * 64, "visitor", now + 1)).status == "ok"

    await store.undo("checkin", venue.id, "a" * 64, "v1", now + 2, now, "visitor")
    await store.undo("checkout", venue.id, "d" * 64, "v4", now + 2, now + 1)

    today, _, recent = await _today(services, venue.id)
    assert recent == [("fever", 1), ("in", 1), ("in", 1), ("walkin", 2)]
    assert (today.entries, today.exits, today.refused_fever) == (3, 1, 1)
    assert await live_count(services, venue.id) == 3  # the walk-in's 2 and the reopened visit's 1
    counts = await services.redis.hgetall(keys.minute_counts(venue.id, day_of(now + 2, store.tz)))
    assert int(counts[str(minute_of(now + 2)).encode()]) == 3
