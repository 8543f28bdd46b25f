"""A join Redis holds but SQL never got (its process died between the join script and the SQL
commit) is taken out of the line after its lease: a waiting orphan no longer makes walk-ins wait,
an offered one gives its places back to the next party; a join SQL holds is only confirmed.
The orphan is made as such a process left it: the join script alone, with no SQL write after it
(as the bookings' and visits' lease tests make theirs). On a single Redis and a cluster, SQLite
and PostgreSQL."""

import time

from occupancy import redis_keys as keys
from occupancy.line import codes
from occupancy.line.leases import LineLeases
from occupancy.privacy.blind_index import index_key, phone_index
from tests.conftest import SECRET
from tests.line.test_line import check_in, check_out, claim, full_venue, inside, join, status
from tests.redis_kinds import redis_kind  # noqa: F401

ORPHAN_PHONE = "0812 9999 0000"


async def orphan_join(services, venue_id: int, party: int = 1) -> str:
    """What a process that died after the join script left: the entry in Redis, no SQL row."""
    code = codes.derive(SECRET, venue_id, f"a-join-whose-process-died-{time.time_ns()}")
    await services.line.load(venue_id)  # as the process did on the line's first use
    reply = await services.line.store.join(
        venue_id, codes.digest(code), "f" * 32, party, time.time(),
        phone_index(index_key(SECRET), ORPHAN_PHONE))
    assert reply.status == "ok"
    return code


def leases(services, lease: float) -> LineLeases:
    return LineLeases(services.sessionmaker, services.redis, services.line.store, lease=lease)


async def test_an_orphaned_join_alone_in_the_line_is_taken_out_after_its_lease(
    client, services, make_venue
):
    venue, signed, tickets = await full_venue(client, make_venue, capacity=1)
    orphan = await orphan_join(services, venue.id)
    await check_out(client, tickets[0])
    # The offers' job finds venues from SQL's line: it never visits this one.
    assert await services.line.advance_all() == 0
    refused = await check_in(client, signed, 40)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "line_waiting"

    assert await leases(services, 60).settle() == 0  # within the lease: a write may be in flight
    assert (await services.line.summary(venue.id)).waiting == 1

    assert await leases(services, 0).settle() == 1
    summary = await services.line.summary(venue.id)
    assert (summary.waiting, summary.places_offered) == (0, 0)
    assert await services.redis.zcard(keys.line_pending(venue.id)) == 0
    assert await services.redis.hget(keys.line_entries(venue.id), codes.digest(orphan)) is None
    assert await leases(services, 0).settle() == 0
    admitted = await check_in(client, signed, 41)
    assert admitted.status_code == 201, admitted.text
    # Its phone holds no place any more.
    again = await join(client, signed, phone=ORPHAN_PHONE)
    assert again["position"] == 1


async def test_an_orphan_offered_places_gives_them_to_the_next_party_and_written_joins_stay(
    client, services, make_venue
):
    venue, signed, tickets = await full_venue(client, make_venue, capacity=2)
    orphan = await orphan_join(services, venue.id, party=2)
    behind = await join(client, signed, 2)
    # Another join reached SQL but its confirmation was lost: it is only confirmed.
    written = await join(client, signed, 1)
    await services.redis.zadd(keys.line_pending(venue.id),
                              {codes.digest(written["line"]): time.time() - 3600})
    for ticket in tickets:
        await check_out(client, ticket)
    offered = await services.line.advance(venue.id)
    assert [h for h, _ in offered] == [codes.digest(orphan)]  # the orphan was the head
    assert (await status(client, behind["line"]))["position"] == 1

    assert await leases(services, 0).settle() == 1
    assert (await services.line.summary(venue.id)).places_offered == 0
    assert await services.redis.zcard(keys.line_pending(venue.id)) == 0
    await services.line.advance(venue.id)
    assert (await status(client, behind["line"]))["state"] == "offered"
    assert (await status(client, written["line"]))["position"] == 1
    claimed = await claim(client, signed, behind["line"])
    assert claimed.status_code == 201, claimed.text


async def test_a_retried_join_of_an_orphan_is_written_and_kept(client, services, make_venue):
    venue, signed, _ = await full_venue(client, make_venue, capacity=1)
    key = f"retried-after-a-crash-{time.time_ns()}"
    code = codes.derive(SECRET, venue.id, key)
    await services.line.load(venue.id)
    reply = await services.line.store.join(venue.id, codes.digest(code), "e" * 32, 1,
                                           time.time() - 3600, phone_index(index_key(SECRET),
                                                                           ORPHAN_PHONE))
    assert reply.status == "ok"
    # The visitor's phone retries with its key (the first answer never came): a replay, written.
    retry = await join(client, signed, 1, key=key, phone=ORPHAN_PHONE)
    assert retry["replayed"] and retry["line"] == code
    assert await leases(services, 0).settle() == 0
    assert (await status(client, code))["position"] == 1


async def test_a_claim_whose_process_died_before_sql_is_offered_again_after_its_lease(
    client, services, make_venue
):
    venue, signed, tickets = await full_venue(client, make_venue, capacity=2)
    head = await join(client, signed, 2)
    behind = await join(client, signed, 1)
    for ticket in tickets:
        await check_out(client, ticket)
    assert [h for h, _ in await services.line.advance(venue.id)] == [codes.digest(head["line"])]
    # A process claimed the offer in Redis and died before the visit's SQL row: past the lease.
    at = time.time() - services.repairer.lease - 1
    live = await services.capacity.admit(venue.id, "d" * 64, 2, "c" * 32, at, "visitor",
                                         line=codes.digest(head["line"]))
    assert live.status == "ok"
    assert (await services.line.summary(venue.id)).places_offered == 0

    done = await services.repairer.run()

    assert done.orphans_released == 1
    # The head holds its offer again (the places did not go to the party behind, nor a walk-in).
    assert (await status(client, head["line"]))["state"] == "offered"
    assert (await services.line.summary(venue.id)).places_offered == 2
    assert (await status(client, behind["line"]))["position"] == 1
    refused = await check_in(client, signed, 42)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "line_waiting"
    claimed = await claim(client, signed, head["line"])
    assert claimed.status_code == 201, claimed.text
    assert await inside(services, venue.id) == (2, 2)
