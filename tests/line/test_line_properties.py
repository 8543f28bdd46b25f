"""Stateful property test of the line's scripts with the check-in script, on a real Redis.

Hypothesis interleaves joins (with retries, several from one phone), leaves, walk-ins,
check-outs, the offers' job (with its clock running, so offers run out and pass), claims (with
retries, some too late), pauses, the manager's offer by hand, and capacity changes (the
manager's, through ``venues.service.push_config``: raised, or lowered below the places taken).
After every step: the line is first come, first served (no party still waiting joined before
one that was offered places); the places offered are the sum of the offered parties' (none
leaks); count + offered never exceeds the capacity (after a capacity lowered below it, the excess
only shrinks: nothing is admitted or offered while over, and a claim is refused 'full'); a
walk-in is admitted only while nobody waits; after the job ran on an open line, its head does
not fit in the places left; a phone holds exactly its open place; Redis keeps open entries
only (each script removes the entries it finishes). The scripts run through the service's own
stores (their SQL-free parts).
"""

import asyncio
import json
from types import SimpleNamespace

import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from redis.asyncio import Redis

from occupancy import redis_keys as keys
from occupancy.kit.scripts import ScriptRunner
from occupancy.line.store import ALL_SCRIPTS as LINE_SCRIPTS
from occupancy.line.store import LineStore
from occupancy.venues.service import push_config
from occupancy.visits.capacity import ALL_SCRIPTS, CapacityStore

VENUE = 7
CAPACITY = 6
OFFER_SECONDS = 5.0
START = 1_780_000_000.0
# Phone indexes (keyed hashes in the service): few, so that phones often try to join twice.
PHONES = [f"{n:032x}" for n in range(4)]


class LineMachine(RuleBasedStateMachine):
    redis_url: str = ""  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.sync = redis.Redis.from_url(self.redis_url)
        self.sync.flushall()
        self.loop = asyncio.new_event_loop()
        self.client = Redis.from_url(self.redis_url)
        self.runner = ScriptRunner(self.client)
        self.capacity = CapacityStore(self.runner)
        self.line = LineStore(self.runner)
        self.now = START
        self.serial = 0
        self.entries: list[str] = []  # entry hashes, in the order they joined
        self.turns: dict[str, int] = {}  # entry hash -> its turn
        self.inside: list[str] = []  # ticket hashes of open visits
        self.claims: dict[str, str] = {}  # entry hash -> its claim's ticket hash
        self.ever_offered: set[str] = set()
        self.capacity_now = CAPACITY
        self.over = 0  # places taken beyond a capacity lowered below them: only shrinks

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.client.aclose())
        self.loop.close()
        self.sync.close()

    def tick(self) -> float:
        self.now += 1.0
        return self.now

    def next_id(self) -> str:
        self.serial += 1
        return f"{self.serial:032x}"

    def entry(self, entry_hash: str) -> dict:
        """The entry as Redis holds it; a finished one is gone (state 'unknown')."""
        found = self.sync.hget(keys.line_entries(VENUE), entry_hash)
        return json.loads(found) if found else {"s": "unknown"}

    def waiting(self) -> list[str]:
        return [h.decode() for h in self.sync.zrange(keys.line(VENUE), 0, -1)]

    @initialize()
    def load(self) -> None:
        self.run(self.runner.load(*ALL_SCRIPTS, *LINE_SCRIPTS))
        self.sync.hset(keys.config(VENUE), mapping={"capacity": CAPACITY, "paused": "0"})
        self.run(self.line.load(VENUE, False, 0, []))

    def open_places(self) -> dict[str, str]:
        """phone index -> entry hash, for the entries waiting or offered places."""
        return {self.entry(h)["n"]: h for h in self.entries
                if self.entry(h)["s"] in ("waiting", "offered")}

    @rule(party=st.integers(1, 3), retry=st.booleans(), phone=st.sampled_from(PHONES))
    def join(self, party: int, retry: bool, phone: str) -> None:
        entry_hash = f"{self.next_id():0>64}"
        entry_id = self.next_id()
        holds = phone in self.open_places()
        waiting = self.waiting()
        reply = self.run(self.line.join(VENUE, entry_hash, entry_id, party, self.tick(), phone))
        if holds:  # one open place per phone: refused, nothing changed
            assert reply.status == "in_line" and self.waiting() == waiting
            assert self.sync.hget(keys.line_entries(VENUE), entry_hash) is None
            return
        assert reply.status == "ok" and reply.position == len(self.waiting())
        self.entries.append(entry_hash)
        self.turns[entry_hash] = reply.entry.turn
        if retry:
            again = self.run(self.line.join(VENUE, entry_hash, "another attempt", 1, self.tick(),
                                            phone))
            assert again.status == "replay" and again.entry.id == entry_id
            assert again.entry.party == party

    @rule(data=st.data())
    def leave(self, data) -> None:
        if self.entries:
            entry_hash = data.draw(st.sampled_from(self.entries))
            before = self.entry(entry_hash)["s"]
            reply = self.run(self.line.leave(VENUE, entry_hash))
            expected = {"waiting": "ok", "offered": "ok"}.get(before, "unknown")
            assert reply.status == expected

    @rule(party=st.integers(1, 3))
    def walk_in(self, party: int) -> None:
        nobody_waits = not self.waiting()
        ticket = self.next_id() * 2
        live = self.run(self.capacity.admit(VENUE, ticket, party, self.next_id(), self.tick(),
                                            "walkin"))
        if live.status == "ok":
            assert nobody_waits, "a walk-in jumped the line"
            self.inside.append(ticket)
        else:
            assert live.status == ("full" if nobody_waits else "line_waiting")

    @rule(data=st.data())
    def check_out(self, data) -> None:
        if self.inside:
            ticket = data.draw(st.sampled_from(self.inside))
            self.inside.remove(ticket)
            now = self.tick()
            assert self.run(self.capacity.begin_check_out(VENUE, ticket, "visitor", now)).status == "ok"
            assert self.run(self.capacity.release(VENUE, ticket, "visitor", now)).status == "ok"

    @rule(seconds=st.sampled_from([1.0, 3.0, 6.0]))
    def offers(self, seconds: float) -> None:
        self.now += seconds
        moved = self.run(self.line.advance(VENUE, self.now, OFFER_SECONDS))
        self.ever_offered.update(h for h, _ in moved.offered)
        paused = self.sync.hget(keys.line_meta(VENUE), "paused") == b"1"
        waiting = self.waiting()
        if waiting and not paused:
            head = self.entry(waiting[0])
            count = int(self.sync.get(keys.count(VENUE)) or 0)
            offered = int(self.sync.hget(keys.line_meta(VENUE), "offered") or 0)
            assert count + offered + head["p"] > self.capacity_now, "a head that fits was left waiting"

    @rule()
    def offer_by_hand(self) -> None:
        moved = self.run(self.line.advance(VENUE, self.tick(), OFFER_SECONDS, "one"))
        assert len(moved.offered) <= 1
        self.ever_offered.update(h for h, _ in moved.offered)

    def taken(self) -> int:
        """Places inside plus places offered to the line."""
        count = int(self.sync.get(keys.count(VENUE)) or 0)
        return count + int(self.sync.hget(keys.line_meta(VENUE), "offered") or 0)

    @rule(capacity=st.integers(2, 9))
    def change_capacity(self, capacity: int) -> None:
        venue = SimpleNamespace(id=VENUE, capacity=capacity, paused=False)
        self.run(push_config(self.client, venue))
        assert int(self.sync.hget(keys.config(VENUE), "capacity")) == capacity
        self.capacity_now = capacity
        self.over = max(0, self.taken() - capacity)

    @rule(paused=st.booleans())
    def pause(self, paused: bool) -> None:
        assert self.run(self.line.pause(VENUE, paused))

    @rule(data=st.data(), retries=st.integers(1, 2))
    def claim(self, data, retries: int) -> None:
        if not self.entries:
            return
        entry_hash = data.draw(st.sampled_from(self.entries))
        ticket = self.claims.get(entry_hash) or f"c{self.next_id()}".ljust(64, "0")
        before = self.entry(entry_hash)
        over = self.taken() > self.capacity_now  # the capacity was lowered below the places taken
        now = self.tick()
        for attempt in range(retries):
            live = self.run(self.capacity.admit(VENUE, ticket, 1, self.next_id(), now,
                                                line=entry_hash))
            if before["s"] == "offered" and before["u"] > now and over and (
                    entry_hash not in self.claims):
                assert live.status == "full", live  # its offer stays until it runs out
            elif before["s"] == "offered" and before["u"] > now:
                assert live.status == ("ok" if attempt == 0 and entry_hash not in self.claims
                                       else "replay"), live
                assert live.party_size == before["p"]
                if live.status == "ok":
                    self.claims[entry_hash] = ticket
                    self.inside.append(ticket)
            elif entry_hash in self.claims:
                assert live.status == "replay"
            else:
                assert live.status.startswith("line_"), live

    @invariant()
    def first_come_first_served(self) -> None:
        waiting = self.waiting()
        if waiting and self.ever_offered:
            turns = self.turns
            assert max(turns[h] for h in self.ever_offered) < min(turns[h] for h in waiting)

    @invariant()
    def no_place_leaks_and_none_offered_twice(self) -> None:
        offered = int(self.sync.hget(keys.line_meta(VENUE), "offered") or 0)
        in_offers = [h.decode() for h in self.sync.zrange(keys.line_offers(VENUE), 0, -1)]
        assert offered == sum(self.entry(h)["p"] for h in in_offers)
        assert all(self.entry(h)["s"] == "offered" for h in in_offers)
        taken = self.taken()
        assert taken <= self.capacity_now + self.over, "admitted or offered over the capacity"
        self.over = max(0, min(self.over, taken - self.capacity_now))

    @invariant()
    def redis_keeps_open_entries_only(self) -> None:
        """A finished entry (left, claimed, passed) is removed by the script that finished it."""
        entries = {h.decode(): json.loads(e)["s"]
                   for h, e in self.sync.hgetall(keys.line_entries(VENUE)).items()}
        assert set(entries.values()) <= {"waiting", "offered"}
        assert set(entries) == set(self.waiting()) | {
            h.decode() for h in self.sync.zrange(keys.line_offers(VENUE), 0, -1)}

    @invariant()
    def a_phone_holds_exactly_its_open_place(self) -> None:
        held = {k.decode(): v.decode()
                for k, v in self.sync.hgetall(keys.line_phones(VENUE)).items()}
        assert held == self.open_places()


def test_the_line_scripts_keep_the_line_fair_and_lose_no_place(redis_server):
    LineMachine.redis_url = redis_server.url
    run_state_machine_as_test(LineMachine, settings=settings(
        max_examples=300, stateful_step_count=40, derandomize=True, database=None, deadline=None,
        suppress_health_check=list(HealthCheck), print_blob=False))


# Plain steps: what the search must never let through, kept whatever it happens to draw.


def test_offers_made_in_one_run_count_the_places_offered_before_them(redis_server):
    LineMachine.redis_url = redis_server.url
    machine = LineMachine()
    try:
        machine.load()
        for phone in PHONES[:3]:
            machine.join(party=3, retry=False, phone=phone)
        machine.offers(seconds=1.0)  # 6 places: the first two parties, not the third
        machine.no_place_leaks_and_none_offered_twice()
        machine.first_come_first_served()
        assert len(machine.waiting()) == 1
        machine.offers(seconds=6.0)  # both offers ran out: the third party is offered next
        assert machine.entry(machine.entries[2])["s"] == "offered"
        machine.no_place_leaks_and_none_offered_twice()
    finally:
        machine.teardown()
