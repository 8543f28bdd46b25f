"""The waiting line: Redis decides (one script per operation), SQL records, then the visitor is
answered, as for a check-in (``visits.service``) and a booking (``bookings.service``).

A venue's line is loaded into Redis from SQL on first use and after Redis lost it (with the live
counts' rebuild, before check-ins resume), so a flush loses no one's turn.
"""

import asyncio
import base64
import logging
import os
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from occupancy import metrics
from occupancy import redis_keys as keys
from occupancy.errors import InvalidInput, ServiceUnavailable
from occupancy.line import codes
from occupancy.line.errors import (
    AlreadyClaimed,
    AlreadyInLine,
    LeftLine,
    LineOfAnotherVenue,
    NoPlacesToOffer,
    NotYourTurn,
    OfferPassed,
    UnknownLineEntry,
)
from occupancy.line.models import LineEntry, LineSetting
from occupancy.line.store import Entry, LineStore, Reply, Summary
from occupancy.line.writes import LineChanged, LineClaimed, LineJoined
from occupancy.privacy.blind_index import index_key, phone_index
from occupancy.privacy.sealing import Personal
from occupancy.venues.service import VenueInfo
from occupancy.visits import tickets
from occupancy.visits.errors import VenueFull, VenuePaused
from occupancy.visits.journal import Journal, TicketConflict
from occupancy.visits.rebuild import Rebuilder
from occupancy.visits.results import CheckedIn
from occupancy.visits.schemas import ValidCheckIn, validate_party, validate_phone
from occupancy.visits.service import Visits, new_visit_id

log = logging.getLogger(__name__)
# The estimated wait uses the gaps between the last offers; with fewer it is unknown.
MIN_OFFERS_FOR_ESTIMATE = 2
# A venue's own time to claim an offer, in minutes: long enough to walk to the door, short enough
# that one party who never comes does not hold the line up for long.
OFFER_MINUTES = (1, 30)


@dataclass(frozen=True, slots=True)
class Place:
    """A party's place in the line, as its page shows it."""

    code: str | None
    entry: Entry
    position: int
    estimated_wait_seconds: int | None
    replayed: bool = False


def estimate_wait(position: int, offer_times: tuple[float, ...]) -> int | None:
    """Seconds until a party at ``position`` is offered places: the mean gap between the last
    offers (up to ten) times the parties ahead of it and itself. None without two offers yet."""
    if position <= 0 or len(offer_times) < MIN_OFFERS_FOR_ESTIMATE:
        return None
    gap = (max(offer_times) - min(offer_times)) / (len(offer_times) - 1)
    return round(gap * position)


class Line:
    def __init__(self, store: LineStore, visits: Visits, journal: Journal,
                 sessionmaker: async_sessionmaker[AsyncSession], rebuilder: Rebuilder,
                 secret: str, offer_seconds: float) -> None:
        self.store = store
        self.visits = visits
        self.journal = journal
        self.sessionmaker = sessionmaker
        self.rebuilder = rebuilder
        self.secret = secret
        self.index_key = index_key(secret)
        self.offer_seconds = offer_seconds

    # Loading from SQL

    async def load(self, venue_id: int) -> None:
        """Load a venue's line from SQL unless Redis holds it. Not while Redis is being rebuilt
        (its grace lets the writes in flight reach SQL first: the rebuild loads it then)."""
        if not await self.rebuilder.is_ready():
            raise self.rebuilder.refusal(venue_id)
        await self._load(venue_id)

    async def _load(self, venue_id: int) -> None:
        async with self.sessionmaker() as session:
            rows = (await session.execute(select(LineEntry).where(
                LineEntry.venue_id == venue_id, LineEntry.claimed_at.is_(None),
                LineEntry.left_at.is_(None), LineEntry.passed_at.is_(None))
                .order_by(LineEntry.seq))).scalars().all()
            last = await session.scalar(select(func.max(LineEntry.seq)).where(
                LineEntry.venue_id == venue_id))
            setting = await session.get(LineSetting, venue_id)
        paused = setting is not None and bool(setting.paused)
        minutes = setting.offer_minutes if setting is not None else None
        await self.store.load(venue_id, paused, last or 0, list(rows),
                              None if minutes is None else minutes * 60)

    async def reload(self, venue_id: int) -> None:
        """Load a venue's line from SQL again, whatever Redis holds (``occupancy reconcile``, at
        the operator's word). A line script in between finds it not loaded and loads it too."""
        await self.store.runner.client.hdel(keys.line_meta(venue_id), "loaded")
        await self._load(venue_id)

    async def load_open(self) -> None:
        """Load every venue's line that has parties in it (part of the rebuild after Redis lost
        its state, before check-ins resume: a walk-in cannot jump a line Redis forgot)."""
        for venue_id in await self._venues_with_open_entries():
            await self._load(venue_id)

    async def _venues_with_open_entries(self) -> list[int]:
        async with self.sessionmaker() as session:
            return list((await session.execute(select(LineEntry.venue_id).where(
                LineEntry.claimed_at.is_(None), LineEntry.left_at.is_(None),
                LineEntry.passed_at.is_(None)).distinct())).scalars())

    async def _call(self, venue_id: int, call):
        """One script call; once more after loading the line if Redis did not hold it."""
        try:
            reply = await call()
            if reply.status == "not_loaded":
                await self.load(venue_id)
                reply = await call()
        except ServiceUnavailable:
            raise
        except Exception as exc:
            log.error("Redis line call failed for venue %s: %s", venue_id, type(exc).__name__)
            raise ServiceUnavailable() from exc
        if reply.status == "not_loaded":
            raise ServiceUnavailable()
        return reply

    # The visitor's side

    async def join(self, venue: VenueInfo, party_size: int, phone: str,
                   idempotency_key: str | None) -> Place:
        """A party's place at the end of the line (idempotent by key: a retry answers the same
        place, counted once); one open place per phone, known by its keyed hash only."""
        # A party larger than the venue could never be offered places: it would stop the line.
        party = validate_party(party_size, max(1, min(venue.max_party, venue.capacity)))
        phone_hash = phone_index(self.index_key, validate_phone(phone))
        random = os.urandom(26)
        entry_id = new_visit_id(random[:10])
        key = idempotency_key or base64.urlsafe_b64encode(random[10:]).decode()
        code = codes.derive(self.secret, venue.id, key)
        entry_hash = codes.digest(code)
        try:
            reply = await self._call(venue.id, lambda: self.store.join(
                venue.id, entry_hash, entry_id, party, time.time(), phone_hash))
        except ServiceUnavailable:
            await self._unjoin(venue.id, entry_hash, entry_id)  # the script may have run
            raise
        if reply.status == "in_line":
            raise AlreadyInLine()
        entry = reply.entry
        try:
            # A replay writes too (a no-op if the row is there): the answer waits for durability.
            await self.journal.write(LineJoined(entry.id, venue.id, entry_hash, entry.party,
                                                entry.turn, _at(entry.joined_at),
                                                entry.phone_index))
        except TicketConflict:
            # A retry of a join that has finished since (Redis keeps only open entries): the
            # entry just made is taken back and the join answered as it ended, in SQL.
            await self._unjoin(venue.id, entry_hash, entry.id)
            return Place(code, await self._finished(venue.id, entry_hash), 0, None, True)
        except Exception as exc:
            if reply.status != "replay":
                await self._unjoin(venue.id, entry_hash, entry.id)
            raise ServiceUnavailable() from exc
        self.store.confirm(venue.id, entry_hash)  # no longer pending: not an orphan
        if reply.status != "replay":
            metrics.LINE_EVENTS.labels("joined").inc()
        return Place(code, entry, reply.position, estimate_wait(reply.position, ()),
                     reply.status == "replay")

    async def _unjoin(self, venue_id: int, entry_hash: str, entry_id: str) -> None:
        try:
            await self.store.unjoin(venue_id, entry_hash, entry_id)
        except Exception:
            log.exception("could not take back a join of the line in Redis for venue %s", venue_id)

    async def status(self, code: str) -> Place:
        venue_id, entry_hash = codes.venue_of(code), codes.digest(code)
        reply = await self._call(venue_id, lambda: self.store.status(venue_id, entry_hash))
        if reply.status == "unknown":
            return Place(None, await self._finished(venue_id, entry_hash), 0, None)
        return Place(None, reply.entry, reply.position,
                     estimate_wait(reply.position, reply.offer_times))

    async def _finished(self, venue_id: int, entry_hash: str) -> Entry:
        """An entry Redis does not hold (it removes an entry as it finishes, and a reload keeps
        only the open ones): SQL's record."""
        async with self.sessionmaker() as session:
            row = (await session.execute(select(LineEntry).where(
                LineEntry.entry_hash == entry_hash))).scalar_one_or_none()
        if row is None or row.venue_id != venue_id:
            raise UnknownLineEntry()
        state = ("claimed" if row.claimed_at else "left" if row.left_at
                 else "passed" if row.passed_at else "offered" if row.offered_at else "waiting")
        return Entry(row.id, row.party_size, row.joined_at.timestamp(), state, row.seq)

    async def leave(self, code: str) -> Entry:
        """Leave the line in one tap (idempotent); an offered party's places go to the next."""
        venue_id, entry_hash = codes.venue_of(code), codes.digest(code)
        reply = await self._call(venue_id, lambda: self.store.leave(venue_id, entry_hash))
        if reply.status == "unknown":  # gone from Redis: SQL says how it ended
            entry = await self._finished(venue_id, entry_hash)
            if entry.state in ("waiting", "offered"):  # left in Redis, SQL's write failed
                entry = replace(entry, state="left")
            reply = Reply("replay" if entry.state == "left" else entry.state, entry)
        if reply.status == "claimed":
            raise AlreadyClaimed()
        if reply.status == "passed":
            raise OfferPassed()
        try:
            await self.journal.write(LineChanged(entry_hash, "left", datetime.now(UTC)))
        except Exception as exc:
            # Redis has it gone, SQL not yet: a retry writes it (a reload before that would
            # bring the party back into the line, never lose anyone).
            raise ServiceUnavailable() from exc
        if reply.status == "ok":
            metrics.LINE_EVENTS.labels("left").inc()
        return reply.entry

    async def claim(self, venue: VenueInfo, request: ValidCheckIn, code: str,
                    address: str = "") -> CheckedIn:
        """Check in the party offered places (idempotent: a retry answers the same visit).
        The party size is the line's, whatever the form says."""
        if codes.venue_of(code) != venue.id:
            raise LineOfAnotherVenue()
        entry_hash = codes.digest(code)
        # The ticket is derived from the entry: every retry of a claim is the same visit.
        ticket = tickets.derive(self.secret, venue.id, f"line:{entry_hash}")
        ticket_hash = tickets.digest(ticket)
        live = await self._admit(venue, ticket_hash, entry_hash, address)
        replayed = live.status == "replay"
        checked_in_at = _at(live.checked_in_at)
        try:
            row = await self.visits.new_row(live, venue.id, ticket_hash, checked_in_at, "visitor",
                                         Personal(request.name, request.phone, request.email))
            await self.journal.write(LineClaimed(entry_hash, row))
        except Exception as exc:
            if not replayed:
                await self._give_back(venue.id, entry_hash, ticket_hash, live)
            raise ServiceUnavailable() from exc
        self.visits.capacity.confirm(venue.id, ticket_hash, live.visit_id, live.party_size,
                                     live.checked_in_at)
        if not replayed:
            metrics.CHECK_INS.inc()
            metrics.VISITORS_ADMITTED.inc(live.party_size)
            metrics.LINE_EVENTS.labels("claimed").inc()
        return CheckedIn(ticket=ticket, visit_id=live.visit_id, venue=venue,
                         party_size=live.party_size, checked_in_at=checked_in_at,
                         count=live.count, capacity=live.capacity, replayed=replayed,
                         open=live.state == "open")

    async def _admit(self, venue: VenueInfo, ticket_hash: str, entry_hash: str, address: str):
        capacity, visit_id, now = self.visits.capacity, new_visit_id(), time.time()

        def admit():  # the party size is the entry's, read by the script
            return capacity.admit(venue.id, ticket_hash, 1, visit_id, now, "visitor", address,
                                  self.visits.limits, line=entry_hash)

        try:
            live = await admit()
            if live.status == "line_unknown" and await self._needs_load(venue.id):
                await self.load(venue.id)
                live = await admit()
        except ServiceUnavailable:
            raise
        except Exception as exc:
            log.error("Redis line claim failed for venue %s: %s", venue.id, type(exc).__name__)
            await self.visits.capacity.undo_or_leave("checkin", venue.id, ticket_hash, visit_id,
                                                     now)
            raise ServiceUnavailable() from exc
        if live.status in ("ok", "replay"):
            return live
        if live.status == "no_config":
            raise self.rebuilder.refusal(venue.id)
        if live.status == "full":
            raise VenueFull(count=live.count, capacity=live.capacity, retry_after_seconds=60)
        if live.status == "paused":
            raise VenuePaused(count=live.count, capacity=live.capacity)
        status = live.status
        if status == "line_unknown":  # finished (Redis keeps open entries only): SQL says how
            status = f"line_{(await self._finished(venue.id, entry_hash)).state}"
        if not status.startswith("line_"):
            raise ServiceUnavailable()
        refusal = {"line_waiting": NotYourTurn, "line_passed": OfferPassed, "line_left": LeftLine,
                   "line_claimed": AlreadyClaimed}.get(status, UnknownLineEntry)
        raise refusal()

    async def _needs_load(self, venue_id: int) -> bool:
        return (await self.store.summary(venue_id)).status == "not_loaded"

    async def _give_back(self, venue_id: int, entry_hash: str, ticket_hash: str, live) -> None:
        """The claim's SQL write failed: the entry is offered again, then the visit's places are
        released (in this order, so that no walk-in takes them in between)."""
        try:
            await self.store.unclaim(venue_id, entry_hash, live.visit_id, ticket_hash)
        except Exception:
            log.exception("could not give a claim back to the line in Redis for venue %s",
                          venue_id)
            return  # the visit keeps the places: never more than capacity; the lease check
        await self.visits.capacity.undo_or_leave("checkin", venue_id, ticket_hash, live.visit_id,
                                                 live.checked_in_at)

    # The manager's side and the service's own job

    async def summary(self, venue_id: int) -> Summary:
        return await self._call(venue_id, lambda: self.store.summary(venue_id))

    async def set_paused(self, venue_id: int, paused: bool) -> None:
        await self._set(venue_id, {"paused": paused},
                        lambda: self.store.pause(venue_id, paused))

    async def set_offer_minutes(self, venue_id: int, minutes: int | None) -> None:
        """The venue's own time to claim an offer (None: the service's default); the offers
        made from now on last this long, those out keep their deadline."""
        if minutes is not None and not (
                isinstance(minutes, int) and not isinstance(minutes, bool)
                and OFFER_MINUTES[0] <= minutes <= OFFER_MINUTES[1]):
            raise InvalidInput(f"The time to claim an offer is {OFFER_MINUTES[0]} to "
                               f"{OFFER_MINUTES[1]} minutes.", field="offer_minutes")
        await self._set(venue_id, {"offer_minutes": minutes},
                        lambda: self.store.set_offer_seconds(
                            venue_id, None if minutes is None else minutes * 60))

    def offer_minutes(self, summary: Summary) -> float:
        """The venue's offer time in minutes: its own, or the service's default."""
        seconds = summary.offer_seconds if summary.offer_seconds is not None else self.offer_seconds
        minutes = seconds / 60
        return int(minutes) if minutes.is_integer() else minutes

    async def _set(self, venue_id: int, values: dict, live) -> None:
        """A setting in SQL first (a reload reads it), then its live copy."""
        async with self.sessionmaker() as session, session.begin():
            setting = await session.get(LineSetting, venue_id)
            if setting is None:
                session.add(LineSetting(venue_id=venue_id, **{"paused": False, **values}))
            else:
                for name, value in values.items():
                    setattr(setting, name, value)
        try:
            if not await live():
                await self.load(venue_id)
        except ServiceUnavailable:
            raise
        except Exception as exc:
            raise ServiceUnavailable() from exc

    async def offer_next(self, venue_id: int) -> tuple[str, float]:
        """The manager offers the next party places by hand (paused or not), if they fit."""
        moved = await self.advance(venue_id, mode="one")
        if not moved:
            raise NoPlacesToOffer()
        return moved[0]

    async def advance(self, venue_id: int, mode: str = "auto") -> list[tuple[str, float]]:
        """Pass the offers that ran out and offer the free places to the head of the line;
        the offers made. Redis first (it decides), then SQL records what it did."""
        moved = await self._call(venue_id, lambda: self.store.advance(
            venue_id, time.time(), self.offer_seconds, mode))
        now = datetime.now(UTC)
        writes = [LineChanged(h, "passed", now) for h in moved.passed]
        writes += [LineChanged(h, "offered", now, _at(until)) for h, until in moved.offered]
        # Together, in one group commit. An offer SQL missed is made again after a reload: the
        # party keeps its turn.
        await asyncio.gather(*(self.journal.write(write) for write in writes))
        metrics.LINE_EVENTS.labels("passed").inc(len(moved.passed))
        metrics.LINE_EVENTS.labels("offered").inc(len(moved.offered))
        return list(moved.offered)

    async def advance_all(self) -> int:
        """The periodic job: every venue whose line has parties in it; the offers made."""
        made = 0
        for venue_id in await self._venues_with_open_entries():
            made += len(await self.advance(venue_id))
        return made


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
