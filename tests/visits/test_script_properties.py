"""Stateful property tests of the capacity scripts against a real Redis server.

Hypothesis interleaves what the service does around each script (``visits.service``,
``visits.repair``, ``visits.rebuild``): check-ins with retries, their SQL commit (the
confirmation sometimes lost) or failure (undo), check-outs and fever refusals (begin, SQL, release,
retries, undo), processes dying between Redis and SQL (the lease check settles what they left),
capacity changes and pauses, Redis losing everything (FLUSHALL) and the rebuild from SQL, and
drift repaired at rest. SQL is a model in Python: the scripts are what is under test. The scripts
run through the service's own ``CapacityStore``, ``Rebuilder`` and ``Repairer`` (their SQL-free
parts) on an event loop of the test's own; the invariants read Redis with a plain client.

After every step: Redis holds exactly what the model predicts; the count is the sum of the parties
of the venue's open tickets; no venue is over capacity unless its capacity was lowered below its
count; a venue Redis lost holds no key until it is rebuilt (requests meanwhile change nothing).
At rest (every write settled, leases checked, drift repaired) the count equals SQL's open visits.
"""

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import redis
from hypothesis import HealthCheck, note, settings, target
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from redis.asyncio import Redis

from occupancy import redis_keys as keys
from occupancy.kit.scripts import ScriptRunner
from occupancy.venues.service import push_config
from occupancy.visits.capacity import ALL_SCRIPTS, OPEN_TICKET_TTL, REPAIR, CapacityStore
from occupancy.visits.rebuild import Rebuilder, visit_args
from occupancy.visits.repair import Repaired, Repairer

VENUES = (1, 2)
REASONS = ("visitor", "fever", "auto")
START = 1_780_000_000.0  # the model's clock (epoch seconds); one second passes per step


# The model -------------------------------------------------------------------------------------


@dataclass
class Row:
    """A visit in (model) SQL."""

    venue: int
    visit_id: str
    party: int
    at: float
    out: float | None = None
    reason: str | None = None

    def as_visit(self, ticket_hash: str):
        """The shape ``visits.rebuild`` and ``visits.repair`` read from SQL."""
        return SimpleNamespace(ticket_hash=ticket_hash, id=self.visit_id, party_size=self.party,
                               checked_in_at=datetime.fromtimestamp(self.at, UTC),
                               checked_out_at=(datetime.fromtimestamp(self.out, UTC)
                                               if self.out is not None else None),
                               checkout_reason=self.reason)


@dataclass
class Ticket:
    """A ticket as Redis should hold it."""

    visit_id: str
    party: int
    at: float
    state: str = "open"  # open | closing | closed
    reason: str | None = None
    out: float | None = None


@dataclass
class Live:
    """A venue as Redis should hold it while it is loaded."""

    capacity: int
    paused: bool
    tickets: dict[str, Ticket] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)

    @property
    def count(self) -> int:
        return sum(t.party for t in self.tickets.values() if t.state in ("open", "closing"))

    def open_set(self) -> set[str]:
        return {h for h, t in self.tickets.items() if t.state in ("open", "closing")}


@dataclass
class CheckIn:
    """A check-in the service has admitted in Redis and is writing to SQL."""

    venue: int
    ticket: str
    visit_id: str
    party: int
    at: float
    replayed: bool

    def __repr__(self) -> str:
        return (f"CheckIn(v{self.venue} t{int(self.ticket, 16)} {self.visit_id} party={self.party}"
                f"{' replay' if self.replayed else ''})")


@dataclass
class CheckOut:
    """A check-out begun in Redis (closing) that the service is writing to SQL."""

    venue: int
    ticket: str
    visit_id: str
    began: bool  # this attempt began it (status ok), not a retry that found it closing
    reason: str
    out: float

    def __repr__(self) -> str:
        return (f"CheckOut(v{self.venue} t{int(self.ticket, 16)} {self.visit_id} {self.reason}"
                f"{'' if self.began else ' retry'})")


def say(text: str) -> None:
    """A line in the failing example's story (also when a plain test drives the machine)."""
    with contextlib.suppress(InvalidArgument):
        note(text)


def short(ticket: str) -> str:
    return f"t{int(ticket, 16)}"


# The machine -----------------------------------------------------------------------------------


class ScriptMachine(RuleBasedStateMachine):
    redis_url: str = ""  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.sync = redis.Redis.from_url(self.redis_url)
        self.sync.flushall()
        self.loop = asyncio.new_event_loop()
        self.client = Redis.from_url(self.redis_url)
        self.runner = ScriptRunner(self.client)
        self.store = CapacityStore(self.runner)
        self.rebuilder = Rebuilder(None, self.client, self.runner, grace=0)
        self.repairer = Repairer(None, self.client, self.runner, self.store, lease=0)
        self.run(self.runner.load(*ALL_SCRIPTS))
        self.now = START
        self.serial = 0
        self.capacity: dict[int, int] = {}  # SQL's venue capacity
        self.paused: dict[int, bool] = {}
        self.live: dict[int, Live | None] = {}  # None: Redis lost the venue (not loaded)
        # Tickets issued before a capacity was lowered below the people inside (or on their way
        # in): they may keep a venue over its new capacity; nobody admitted since may.
        self.grandfathered: dict[int, set[str]] = {}
        self.sql: dict[str, Row] = {}
        self.ticket_venue: dict[str, int] = {}
        self.checkins: list[CheckIn] = []
        self.checkouts: list[CheckOut] = []
        self.closest = -100

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        # Steer the search towards a venue over its capacity.
        with contextlib.suppress(InvalidArgument):
            target(self.closest, label="people over capacity")
        self.run(self.client.aclose())
        self.loop.close()
        self.sync.close()

    # helpers ---------------------------------------------------------------------------------

    def tick(self) -> float:
        self.now += 1.0
        return self.now

    def new_ticket(self, venue: int) -> str:
        self.serial += 1
        ticket = f"{self.serial:064x}"
        self.ticket_venue[ticket] = venue
        return ticket

    def new_visit_id(self) -> str:
        self.serial += 1
        return f"visit{self.serial}"

    def sql_open(self, venue: int) -> dict[str, Row]:
        return {h: r for h, r in self.sql.items() if r.venue == venue and r.out is None}

    def sql_people(self, venue: int) -> int:
        return sum(r.party for r in self.sql_open(venue).values())

    def redis_count(self, venue: int) -> int:
        return int(self.sync.get(keys.count(venue)) or 0)

    def confirm(self, venue: int, ticket: str, visit_id: str, party: int, at: float) -> None:
        """Post a confirmation as the service does (not awaited) and let it reach Redis."""

        async def post_and_wait():
            self.store.confirm(venue, ticket, visit_id, party, at)
            await self.store.occupancy(venue)  # sent in the same batch, after the confirmation

        self.run(post_and_wait())
        live = self.live[venue]
        if live is None:
            return  # not loaded: the rebuild to come reads the row from SQL
        live.pending.discard(f"in:{ticket}")
        if ticket not in live.tickets:  # Redis lost it: the visitor was told they are in
            live.tickets[ticket] = Ticket(visit_id, party, at)

    def undo_checkin(self, venue: int, ticket: str, visit_id: str, at: float) -> str:
        before = self.redis_count(venue)
        status, count = self.run(self.store.undo("checkin", venue, ticket, visit_id, self.tick(), at))
        live = self.live[venue]
        t = live.tickets.get(ticket) if live else None
        if t is None or t.visit_id != visit_id:
            expected = "gone"
        elif t.state != "open":
            expected = "noop"
        elif f"in:{ticket}" not in live.pending:
            expected = "confirmed"  # its SQL row is committed (a retry's): it stays
        else:
            expected = "ok"
        assert status.decode() == expected, f"undo checkin of {short(ticket)}: {status} != {expected}"
        if expected == "ok":
            del live.tickets[ticket]
            live.pending.discard(f"in:{ticket}")
            assert count == live.count
        assert self.redis_count(venue) <= before, "an undo raised the count"
        return expected

    def undo_checkout(self, venue: int, ticket: str, visit_id: str) -> None:
        before = self.redis_count(venue)
        status, _ = self.run(self.store.undo("checkout", venue, ticket, visit_id, self.tick(), self.now))
        live = self.live[venue]
        t = live.tickets.get(ticket) if live else None
        expected = "ok" if t is not None and t.visit_id == visit_id and t.state == "closing" else "noop"
        assert status.decode() == expected, f"undo checkout of {short(ticket)}: {status} != {expected}"
        if expected == "ok":
            t.state, t.reason, t.out = "open", None, None
            live.pending.discard(f"out:{ticket}")
        assert self.redis_count(venue) == before, "undoing a check-out changed the count"

    def release(self, venue: int, ticket: str, reason: str, out: float) -> str:
        reply = self.run(self.store.release(venue, ticket, reason, out))
        live = self.live[venue]
        t = live.tickets.get(ticket) if live else None
        if live is not None:
            live.pending.discard(f"out:{ticket}")
        if t is None:
            expected = "unknown"
        elif t.state == "closed":
            expected = "replay"
        else:
            expected = "ok"
            if t.state == "open":  # reopened, or rebuilt as open: this release's reason wins
                t.reason, t.out = reason, out
            t.state = "closed"
        assert reply.status == expected, f"release of {short(ticket)}: {reply.status} != {expected}"
        if live is not None:
            assert reply.count == live.count
        return expected

    def close_in_sql(self, ticket: str, out: float, reason: str) -> None:
        row = self.sql.get(ticket)
        if row is not None and row.out is None:
            row.out, row.reason = out, reason

    def in_flight(self, venue: int, member: str) -> bool:
        kind, ticket = member.split(":", 1)
        attempts = self.checkins if kind == "in" else self.checkouts
        return any(a.venue == venue and a.ticket == ticket for a in attempts)

    # setup -----------------------------------------------------------------------------------

    @initialize(capacities=st.lists(st.integers(1, 10), min_size=1, max_size=len(VENUES)))
    def create_venues(self, capacities):
        for venue, capacity in zip(VENUES, capacities, strict=False):
            self.capacity[venue], self.paused[venue] = capacity, False
            self.grandfathered[venue] = set()
            self.run(push_config(self.client, SimpleNamespace(id=venue, capacity=capacity, paused=False),
                                 new=True))
            self.live[venue] = Live(capacity, False)

    def venues(self):
        return st.sampled_from(sorted(self.live))

    # check-in --------------------------------------------------------------------------------

    @rule(data=st.data(), arrivals=st.lists(
        st.tuples(st.integers(1, 5), st.sampled_from(["new", "retry of one in flight", "retry"])),
        min_size=1, max_size=4))
    def check_ins(self, data, arrivals):
        """Parties arrive: new check-ins, or retries (same idempotency key) of one still waiting
        for SQL or of any earlier one."""
        venue = data.draw(self.venues(), label="venue")
        for party, kind in arrivals:
            self.admit(venue, party, kind, data)

    def admit(self, venue: int, party: int, kind: str, data) -> None:
        """A check-in, or a retry of an earlier one (same idempotency key): the Redis half."""
        known = [h for h, v in self.ticket_venue.items() if v == venue]
        if kind == "retry of one in flight":
            known = sorted({a.ticket for a in self.checkins if a.venue == venue})
        if kind != "new" and known:
            ticket = data.draw(st.sampled_from(known), label="retry of")
            say(f"retrying {short(ticket)}")
        else:
            ticket = self.new_ticket(venue)
        visit_id, now = self.new_visit_id(), self.tick()
        before = self.redis_count(venue)
        reply = self.run(self.store.admit(venue, ticket, party, visit_id, now))
        live = self.live[venue]
        t = live.tickets.get(ticket) if live else None
        if t is not None:
            expected = "replay"
        elif live is None:
            expected = "no_config"
        elif live.paused:
            expected = "paused"
        elif live.count + party > live.capacity:
            expected = "full"
        else:
            expected = "ok"
        assert reply.status == expected, f"admit: {reply.status} != {expected} (count {before})"
        if expected == "replay":
            assert (reply.visit_id, reply.party_size) == (t.visit_id, t.party), "a replay answers as before"
            assert self.redis_count(venue) == before, "a retried check-in counted twice"
            replay = CheckIn(venue, ticket, t.visit_id, t.party, t.at, replayed=True)
            self.checkins.append(replay)
            if kind == "retry of one in flight":
                # The retry's own write commits while the first attempt's still waits.
                self.commit_check_in_now(replay)
        elif expected == "ok":
            assert reply.count == before + party <= live.capacity
            live.tickets[ticket] = Ticket(visit_id, party, now)
            live.pending.add(f"in:{ticket}")
            self.checkins.append(CheckIn(venue, ticket, visit_id, party, now, replayed=False))
        else:
            assert self.redis_count(venue) == before

    @precondition(lambda self: self.checkins)
    @rule(data=st.data(), outcome=st.sampled_from([
        "committed", "committed, confirmation lost", "SQL failed", "process died",
        "process died after the commit"]))
    def check_in_ends(self, data, outcome):
        """What follows a check-in's Redis half: its SQL row commits and the confirmation follows
        (or is lost on its way), or the SQL write fails and the service undoes the reservation
        (not a replay's), or the process dies before or after its commit (the lease check then
        settles what it left)."""
        attempt = data.draw(st.sampled_from(self.checkins), label="check-in")
        self.checkins.remove(attempt)
        row = self.sql.get(attempt.ticket)
        if outcome == "SQL failed" or (row is not None and row.visit_id != attempt.visit_id):
            # A failed write, or the key used by another visit (TicketConflict, a 409): undone.
            if not attempt.replayed:
                self.undo_checkin(attempt.venue, attempt.ticket, attempt.visit_id, attempt.at)
            return
        if outcome == "process died":
            return
        if row is None:
            self.sql[attempt.ticket] = Row(attempt.venue, attempt.visit_id, attempt.party, attempt.at)
        if outcome == "committed":
            self.confirm(attempt.venue, attempt.ticket, attempt.visit_id, attempt.party, attempt.at)

    # check-out -------------------------------------------------------------------------------

    @rule(data=st.data(), reason=st.sampled_from(REASONS))
    def begin_check_out(self, data, reason):
        """A check-out, a fever refusal or an automatic check-out, or a retry of one."""
        venue = data.draw(self.venues(), label="venue")
        known = [h for h, v in self.ticket_venue.items() if v == venue]
        if not known:
            return
        ticket = data.draw(st.sampled_from(known), label="ticket")
        now = self.tick()
        before = self.redis_count(venue)
        reply = self.run(self.store.begin_check_out(venue, ticket, reason, now))
        live = self.live[venue]
        t = live.tickets.get(ticket) if live else None
        if live is None:
            expected = "no_config"
        elif t is None:
            expected = "unknown"
        else:
            expected = {"open": "ok", "closing": "closing", "closed": "replay"}[t.state]
        assert reply.status == expected, f"check-out of {short(ticket)}: {reply.status} != {expected}"
        assert self.redis_count(venue) == before, "beginning a check-out changed the count"
        if expected == "unknown":
            # Known only to SQL (its row came after a rebuild read SQL): closed in SQL alone.
            self.close_in_sql(ticket, now, reason)
        elif expected == "ok":
            t.state, t.reason, t.out = "closing", reason, now
            live.pending.add(f"out:{ticket}")
            self.checkouts.append(CheckOut(venue, ticket, t.visit_id, True, reason, now))
        elif expected == "closing":
            assert (reply.state, reply.checked_out_at) == (t.reason, t.out), "a retry keeps the first"
            self.checkouts.append(CheckOut(venue, ticket, t.visit_id, False, t.reason, t.out))

    @precondition(lambda self: self.checkouts)
    @rule(data=st.data(), outcome=st.sampled_from([
        "committed", "committed, release retried", "committed, release lost", "SQL failed",
        "process died", "process died after the commit"]))
    def check_out_ends(self, data, outcome):
        """What follows a check-out's begin: SQL records it, then its places are released (once,
        even if retried), or the release is lost, or the SQL write fails and the visit reopens
        (only if this attempt began it), or the process dies before or after its commit."""
        attempt = data.draw(st.sampled_from(self.checkouts), label="check-out")
        self.checkouts.remove(attempt)
        if outcome == "SQL failed":
            if attempt.began:
                self.undo_checkout(attempt.venue, attempt.ticket, attempt.visit_id)
            return
        if outcome == "process died":
            return
        self.close_in_sql(attempt.ticket, attempt.out, attempt.reason)
        if outcome in ("committed, release lost", "process died after the commit"):
            return
        self.release(attempt.venue, attempt.ticket, attempt.reason, attempt.out)
        if outcome == "committed, release retried":
            before = self.redis_count(attempt.venue)
            status = self.release(attempt.venue, attempt.ticket, attempt.reason, attempt.out)
            assert status in ("replay", "unknown"), f"a retried release answered {status}"
            assert self.redis_count(attempt.venue) == before, "a retried release released twice"

    @rule(data=st.data())
    def lease_check(self, data):
        """The lease check settles every write left pending by nobody (``Repairer._settle``)."""
        venue = data.draw(self.venues(), label="venue")
        live = self.live[venue]
        if live is None:
            return
        done = Repaired()
        for member in sorted(live.pending):
            if self.in_flight(venue, member) or member not in live.pending:
                continue
            kind, ticket = member.split(":", 1)
            row = self.sql.get(ticket)
            visit = row.as_visit(ticket) if row is not None else None
            if kind == "in":
                self.settle_reservation(venue, ticket, row, visit, done)
            else:
                self.settle_check_out(venue, ticket, row, visit, done)
        say(f"lease check of v{venue}: {done}")

    def settle_reservation(self, venue, ticket, row, visit, done) -> None:
        live = self.live[venue]
        t = live.tickets.get(ticket)
        before = self.redis_count(venue)

        async def settle():
            await self.repairer._settle_reservation(venue, ticket, visit, done)
            await self.store.occupancy(venue)  # after a confirmation it posted

        self.run(settle())
        if row is not None and row.out is not None:
            live.pending.discard(f"in:{ticket}")
        elif row is not None:
            live.pending.discard(f"in:{ticket}")
            if ticket not in live.tickets:
                live.tickets[ticket] = Ticket(row.visit_id, row.party, row.at)
        else:
            live.pending.discard(f"in:{ticket}")
            if t is not None and t.state == "open":
                del live.tickets[ticket]
            assert self.redis_count(venue) <= before

    def settle_check_out(self, venue, ticket, row, visit, done) -> None:
        live = self.live[venue]
        t = live.tickets.get(ticket)
        self.run(self.repairer._settle_check_out(venue, ticket, visit, done))
        live.pending.discard(f"out:{ticket}")
        if row is not None and row.out is not None:
            if t is not None and t.state != "closed":
                if t.state == "open":
                    t.reason, t.out = row.reason, row.out
                t.state = "closed"
        elif t is not None and t.state == "closing":
            t.state, t.reason, t.out = "open", None, None

    @rule(data=st.data(), capacity=st.integers(1, 10), paused=st.booleans())
    def change_capacity(self, data, capacity, paused):
        """A manager changes the capacity (below the count too) or pauses entry."""
        venue = data.draw(self.venues(), label="venue")
        self.capacity[venue], self.paused[venue] = capacity, paused
        self.run(push_config(self.client, SimpleNamespace(id=venue, capacity=capacity, paused=paused)))
        live = self.live[venue]
        inside = {h: r.party for h, r in self.sql_open(venue).items()}
        inside.update({a.ticket: a.party for a in self.checkins if a.venue == venue})
        if live is not None:
            live.capacity, live.paused = capacity, paused
            inside.update({h: t.party for h, t in live.tickets.items() if t.state != "closed"})
        if sum(inside.values()) > capacity:
            self.grandfathered[venue] |= {h for h, v in self.ticket_venue.items() if v == venue}

    @precondition(lambda self: all(live is not None for live in self.live.values()))
    @rule()
    def redis_loses_everything(self):
        self.sync.flushall()
        self.run(self.runner.load(*ALL_SCRIPTS))  # as ScriptRunner does on NOSCRIPT
        for venue in self.live:
            self.live[venue] = None

    def rebuildable(self) -> list[int]:
        """Venues Redis lost whose check-ins in flight then have all ended: the rebuild waits a
        grace for them (``Rebuilder.grace``). One slower than that is a known gap (see
        ``test_a_check_in_slower_than_the_rebuild_grace_can_overfill_a_venue``)."""
        return [v for v, live in self.live.items()
                if live is None and not any(a.venue == v for a in self.checkins)]

    @precondition(lambda self: self.rebuildable())
    @rule(data=st.data())
    def rebuild(self, data):
        """``Rebuilder._load`` from an SQL snapshot; a second load (another process) changes nothing."""
        venue = data.draw(st.sampled_from(self.rebuildable()), label="venue")
        self.load(venue)
        again = self.run(self.rebuilder._load(*self.snapshot(venue)))
        assert again == (b"loaded", self.live[venue].count), "a second rebuild loaded the venue again"

    def snapshot(self, venue: int) -> tuple:
        row = SimpleNamespace(id=venue, capacity=self.capacity[venue], paused=self.paused[venue])
        return row, [r.as_visit(h) for h, r in self.sql_open(venue).items()]

    def load(self, venue: int) -> None:
        status, count = self.run(self.rebuilder._load(*self.snapshot(venue)))
        assert (status, count) == (b"ok", self.sql_people(venue)), f"rebuild of v{venue}: {status} {count}"
        self.live[venue] = Live(self.capacity[venue], self.paused[venue], {
            h: Ticket(r.visit_id, r.party, r.at) for h, r in self.sql_open(venue).items()})

    def commit_check_in_now(self, attempt: CheckIn) -> None:
        self.checkins.remove(attempt)
        row = self.sql.get(attempt.ticket)
        if row is not None and row.visit_id != attempt.visit_id:
            if not attempt.replayed:
                self.undo_checkin(attempt.venue, attempt.ticket, attempt.visit_id, attempt.at)
            return
        if row is None:
            self.sql[attempt.ticket] = Row(attempt.venue, attempt.visit_id, attempt.party, attempt.at)
        self.confirm(attempt.venue, attempt.ticket, attempt.visit_id, attempt.party, attempt.at)

    @rule(data=st.data(), corruption=st.sampled_from(["none", "count", "lost ticket", "stray ticket",
                                                       "stuck closing"]),
          delta=st.integers(-3, 3))
    def drift_repair(self, data, corruption, delta):
        """Corrupt a venue at rest (or not), then ``repair.lua`` as ``Repairer._repair_venue``
        calls it: it repairs only at rest, and then Redis is SQL."""
        venue = data.draw(self.venues(), label="venue")
        live = self.live[venue]
        if live is None:
            return
        at_rest = not live.pending
        if at_rest:
            self.corrupt(venue, corruption, delta, data)
        status = self.repair(venue)
        if not at_rest:
            assert status == "busy", f"repair with writes in flight answered {status}"
            return
        assert status == "ok", f"repair at rest answered {status}"
        self.model_repaired(venue)

    def corrupt(self, venue: int, corruption: str, delta: int, data) -> None:
        live = self.live[venue]
        opened = sorted(live.open_set())
        if corruption == "count":
            self.sync.set(keys.count(venue), max(0, live.count + delta))
        elif corruption == "lost ticket" and opened:
            ticket = data.draw(st.sampled_from(opened), label="lost")
            self.sync.delete(keys.ticket(venue, ticket))
            self.sync.srem(keys.open_tickets(venue), ticket)
        elif corruption == "stray ticket":
            ticket = self.new_ticket(venue)
            self.sync.hset(keys.ticket(venue, ticket), mapping={"visit": "stray", "party": 2, "at": self.now,
                                                                "state": "open"})
            self.sync.sadd(keys.open_tickets(venue), ticket)
            self.sync.incrby(keys.count(venue), 2)
        elif corruption == "stuck closing" and opened:
            ticket = data.draw(st.sampled_from(opened), label="stuck")
            self.sync.hset(keys.ticket(venue, ticket), mapping={"state": "closing", "reason": "visitor",
                                                                "out": self.now})

    def repair(self, venue: int) -> str:
        """``Repairer._repair_venue`` with the model's SQL."""
        seq = self.sync.hget(keys.config(venue), "seq") or b"0"
        redis_open = {m.decode() for m in self.sync.smembers(keys.open_tickets(venue))}
        visits = [r.as_visit(h) for h, r in self.sql_open(venue).items()]
        stale = redis_open - {v.ticket_hash for v in visits}
        script_keys = (*keys.visit_keys(venue, "")[:2], keys.open_tickets(venue), keys.pending(venue),
                       *(keys.ticket(venue, v.ticket_hash) for v in visits),
                       *(keys.ticket(venue, h) for h in stale))
        args = (seq, OPEN_TICKET_TTL, keys.venue_channel(venue), venue, self.tick(), len(visits),
                *visit_args(visits))
        status, *_ = self.run(self.runner.run(REPAIR, script_keys, args))
        return status.decode()

    def model_repaired(self, venue: int) -> None:
        live = self.live[venue]
        sql_open = self.sql_open(venue)
        for ticket in live.open_set() - set(sql_open):
            del live.tickets[ticket]
        for ticket, row in sql_open.items():
            t = live.tickets.get(ticket)
            if t is None or t.visit_id != row.visit_id or t.state != "open":
                live.tickets[ticket] = Ticket(row.visit_id, row.party, row.at)

    @rule(data=st.data())
    def at_rest(self, data):
        """Every write settles, leases are checked, lost venues rebuilt, drift repaired: the
        counts are SQL's open visits."""
        self.settle_everything()

    def settle_everything(self) -> None:
        while self.checkins:
            self.commit_check_in_now(self.checkins[0])
        while self.checkouts:
            attempt = self.checkouts.pop(0)
            self.close_in_sql(attempt.ticket, attempt.out, attempt.reason)
            self.release(attempt.venue, attempt.ticket, attempt.reason, attempt.out)
        for venue, live in self.live.items():
            if live is None:
                self.load(venue)
                continue
            done = Repaired()
            for member in sorted(live.pending):
                kind, ticket = member.split(":", 1)
                row = self.sql.get(ticket)
                visit = row.as_visit(ticket) if row is not None else None
                if kind == "in":
                    self.settle_reservation(venue, ticket, row, visit, done)
                else:
                    self.settle_check_out(venue, ticket, row, visit, done)
            assert self.repair(venue) == "ok"
            self.model_repaired(venue)
        self.check_model()
        for venue in self.live:
            count, people = self.redis_count(venue), self.sql_people(venue)
            assert count == people, f"v{venue} at rest: Redis counts {count}, SQL has {people} inside"
            opened = {m.decode() for m in self.sync.smembers(keys.open_tickets(venue))}
            assert opened == set(self.sql_open(venue)), f"v{venue} at rest: open tickets differ from SQL"

    # invariants ------------------------------------------------------------------------------

    @invariant()
    def redis_is_what_the_model_says(self):
        self.check_model()

    def check_model(self) -> None:
        """Read every venue's keys in one round trip and compare them with the model."""
        pipe = self.sync.pipeline(transaction=False)
        for venue, live in self.live.items():
            if live is None:
                pipe.keys(f"{keys.tag(venue)}*".replace("{", "\\{").replace("}", "\\}"))
                continue
            pipe.get(keys.count(venue))
            pipe.hmget(keys.config(venue), "capacity", "paused")
            pipe.smembers(keys.open_tickets(venue))
            pipe.zrange(keys.pending(venue), 0, -1)
            for ticket in live.tickets:
                pipe.hmget(keys.ticket(venue, ticket), "visit", "party", "state")
        replies = iter(pipe.execute())
        for venue, live in self.live.items():
            if live is None:
                stray = next(replies)
                assert not stray, f"v{venue} is not loaded, yet Redis holds {stray}"
                continue
            count = int(next(replies) or 0)
            capacity, paused = next(replies)
            opened = {m.decode() for m in next(replies)}
            pending = {m.decode() for m in next(replies)}
            held = {ticket: next(replies) for ticket in live.tickets}
            assert (int(capacity), paused == b"1") == (live.capacity, live.paused), f"v{venue} config"
            for ticket, t in live.tickets.items():
                visit, party, state = (held[ticket][0] or b"?").decode(), held[ticket][1], held[ticket][2]
                assert (visit, int(party or 0), (state or b"?").decode()) == (t.visit_id, t.party, t.state), (
                    f"v{venue} {short(ticket)}: Redis has {(visit, party, state)}, the model {t}")
            assert opened == live.open_set(), (
                f"v{venue} open tickets: Redis {sorted(map(short, opened))}, "
                f"model {sorted(map(short, live.open_set()))}")
            assert pending == live.pending, f"v{venue} pending writes: Redis {pending}, model {live.pending}"
            people = sum(int(held[ticket][1]) for ticket in opened)
            assert count == people, f"v{venue}: count {count} != {people}, the open tickets' parties"
            admitted_since = sum(int(held[ticket][1]) for ticket in opened - self.grandfathered[venue])
            self.closest = max(self.closest, admitted_since - live.capacity)
            assert admitted_since <= live.capacity, (
                f"v{venue} holds {count} people for {live.capacity} places ({admitted_since} of them "
                f"admitted since its capacity was last lowered below the people inside)")



def test_the_scripts_keep_the_invariants_under_any_interleaving(redis_server):
    ScriptMachine.redis_url = redis_server.url
    run_state_machine_as_test(ScriptMachine, settings=settings(
        max_examples=100, stateful_step_count=50, derandomize=True, database=None, deadline=None,
        suppress_health_check=list(HealthCheck), print_blob=False))


# Examples the machine found, kept as plain steps --------------------------------------------------


class Draws:
    """Stands in for ``st.data()``: answers each draw with the next given value."""

    def __init__(self, *values) -> None:
        self.values = list(values)

    def draw(self, strategy, label=None):
        return self.values.pop(0)


@pytest.fixture
def machine(redis_server):
    ScriptMachine.redis_url = redis_server.url
    machine = ScriptMachine()
    yield machine
    machine.teardown()


def test_an_undo_keeps_a_reservation_a_retry_has_recorded(machine):
    """The first attempt's SQL write fails after a retry of it was recorded and confirmed: its
    undo must not free the places (it did: 0 counted with 3 inside, 5 more let in, 8 for 5)."""
    machine.create_venues([5])
    machine.check_ins(Draws(1), [(3, "new")])
    first = machine.checkins[0]
    machine.check_ins(Draws(1, first.ticket), [(3, "retry of one in flight")])  # recorded
    machine.check_in_ends(Draws(first), "SQL failed")
    machine.check_model()
    assert machine.redis_count(1) == 3 == machine.sql_people(1)
    machine.check_ins(Draws(1), [(5, "new")])
    assert machine.checkins == [], "full"
    machine.at_rest(Draws())


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "known gap: a reservation whose SQL commit outlasts the rebuild's grace is put back by its "
    "confirmation (confirm.lua) whatever the count; the rebuild cannot know of it"))
def test_a_check_in_slower_than_the_rebuild_grace_can_overfill_a_venue(machine):
    machine.create_venues([5])
    machine.check_ins(Draws(1), [(5, "new")])
    slow = machine.checkins[0]
    machine.redis_loses_everything()
    machine.load(1)  # the rebuild, its grace over while the check-in still waits for SQL
    machine.check_ins(Draws(1), [(5, "new")])
    machine.check_in_ends(Draws(machine.checkins[1]), "committed")
    machine.check_in_ends(Draws(slow), "committed")  # restored: 10 people for 5 places
    machine.check_model()
