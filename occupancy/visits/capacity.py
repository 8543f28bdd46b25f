"""The live side of visits: atomic admission and release in Redis, one script call each."""

import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec

from occupancy import redis_keys as keys
from occupancy.errors import ServiceUnavailable
from occupancy.kit.scripts import Script, ScriptRunner
from occupancy.stats.calendar import STATS_TTL, day_of, minute_of

HERE = Path(__file__).parent
CHECKIN = Script(HERE / "checkin.lua")
CHECKOUT = Script(HERE / "checkout.lua")
RELEASE = Script(HERE / "release.lua")
UNDO = Script(HERE / "undo.lua")
CONFIRM = Script(HERE / "confirm.lua")
OCCUPANCY = Script(HERE / "occupancy.lua")
REBUILD = Script(HERE / "rebuild.lua")
REPAIR = Script(HERE / "repair.lua")
SURVEY = Script(HERE / "survey.lua")
ALL_SCRIPTS = (CHECKIN, CHECKOUT, RELEASE, UNDO, CONFIRM, OCCUPANCY, REBUILD, REPAIR, SURVEY)

OPEN_TICKET_TTL = 2 * 24 * 3600  # longer than any stay; auto check-out closes it before then
CLOSED_TICKET_TTL = 24 * 3600  # long enough for retries of check-out and check-in to answer

log = logging.getLogger(__name__)


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class LiveVisit(msgspec.Struct, frozen=True):
    """What a script answered: the outcome, the venue's count and the visit it touched.

    A msgspec Struct: made for every script reply, it is built in C (a frozen dataclass sets each
    field through ``object.__setattr__``, most of the reply's decoding)."""

    status: str  # ok | replay | closing | full | paused | no_config | unknown
    count: int
    capacity: int
    visit_id: str | None = None
    party_size: int | None = None
    checked_in_at: float | None = None
    state: str | None = None  # open | closed (check-in) or the check-out reason
    checked_out_at: float | None = None

    @classmethod
    def from_reply(cls, reply: list) -> "LiveVisit":
        n = len(reply)
        return cls(
            _text(reply[0]), int(reply[1]), int(reply[2] or 0) if n > 2 else 0,
            _text(reply[3]) if n > 3 else None,
            _number(int, reply[4]) if n > 4 else None,
            _number(float, reply[5]) if n > 5 else None,
            _text(reply[6]) if n > 6 else None,
            _number(float, reply[7]) if n > 7 else None,
        )


def _number(kind, value):
    return None if value is None else kind(value)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Check-ins allowed per fixed window of ``window_seconds``, from one client address at a
    venue and at the venue in all (0: no limit)."""

    per_address: int = 0
    per_venue: int = 0
    window_seconds: int = 10

    def window(self, now: float) -> int:
        return int(now // self.window_seconds)

    def retry_after(self, now: float) -> int:
        """Whole seconds until the next window."""
        return max(1, math.ceil(self.window_seconds - now % self.window_seconds))


NO_LIMITS = RateLimits()


@dataclass(frozen=True, slots=True)
class Occupancy:
    count: int
    capacity: int | None
    paused: bool
    waiting: int = 0  # parties in the venue's line
    offered: int = 0  # places offered to the line, not claimed yet


class CapacityStore:
    def __init__(self, runner: ScriptRunner, tz: ZoneInfo | None = None) -> None:
        self.runner = runner
        self.tz = tz or UTC  # the venues' local day, for today's statistics

    def _stats_keys(self, venue_id: int, now: float) -> tuple[str, str, str, str]:
        return keys.stats_keys(venue_id, day_of(now, self.tz))

    async def admit(
        self, venue_id: int, ticket_hash: str, party: int, visit_id: str, now: float,
        kind: str = "visitor", address: str = "", limits: "RateLimits | None" = None,
        claim: tuple[str, str] | None = None, line: str | None = None,
    ) -> LiveVisit:
        """Reserve the party's places if they fit, leaving free those held for the unclaimed
        bookings of the slot under way and those offered to the waiting line, and none while
        anyone waits in the line; the reservation is pending until confirmed. ``claim``
        (booking hash, slot) turns that booking's held places into this visit (kind 'booking');
        ``line`` (an entry hash) takes the places offered to that party of the line."""
        limits = limits or NO_LIMITS
        args = (party, visit_id, now, OPEN_TICKET_TTL, keys.venue_channel(venue_id), venue_id,
                minute_of(now), STATS_TTL, kind, ticket_hash, limits.per_address, limits.per_venue,
                limits.window_seconds, claim[1] if claim else "", line or "")
        script_keys = (*keys.visit_keys(venue_id, ticket_hash), *self._stats_keys(venue_id, now),
                       *keys.rate_keys(venue_id, limits.window(now), address),
                       keys.holds(venue_id), keys.held(venue_id), keys.line(venue_id),
                       keys.line_offers(venue_id), keys.line_entries(venue_id),
                       keys.line_meta(venue_id), keys.line_phones(venue_id))
        if claim is not None:
            script_keys += (keys.booking(venue_id, claim[0]),)
            args += (claim[0],)
        return LiveVisit.from_reply(await self.runner.run(CHECKIN, script_keys, args))

    def confirm(self, venue_id: int, ticket_hash: str, visit_id: str, party: int,
                checked_in_at: float) -> None:
        """The visit's SQL row is committed: its reservation is no longer pending.

        Sent with the next batch of script calls, not awaited: if it is lost, the lease check
        finds the row in SQL and confirms it then (``visits.repair``).
        """
        args = (ticket_hash, visit_id, party, checked_in_at, OPEN_TICKET_TTL,
                keys.venue_channel(venue_id), venue_id, time.time())
        self.runner.post(CONFIRM, keys.visit_keys(venue_id, ticket_hash), args)

    async def begin_check_out(self, venue_id: int, ticket_hash: str, reason: str,
                              now: float) -> LiveVisit:
        """Mark an open visit as closing; its places stay taken until ``release``."""
        reply = await self.runner.run(CHECKOUT, keys.visit_keys(venue_id, ticket_hash),
                                      (reason, now, ticket_hash))
        # A check-out reply carries the reason where a check-in reply carries the state.
        return LiveVisit.from_reply(reply)

    async def release(self, venue_id: int, ticket_hash: str, reason: str, now: float) -> LiveVisit:
        """SQL has recorded the check-out: release the places (once), count it, publish it."""
        args = (reason, now, CLOSED_TICKET_TTL, keys.venue_channel(venue_id), venue_id,
                minute_of(now), STATS_TTL, ticket_hash)
        script_keys = (*keys.visit_keys(venue_id, ticket_hash), *self._stats_keys(venue_id, now))
        return LiveVisit.from_reply(await self.runner.run(RELEASE, script_keys, args))

    async def undo(self, mode: str, venue_id: int, ticket_hash: str, visit_id: str, now: float,
                   event_at: float, kind: str = "visitor"):
        """Take back a check-in (of ``kind``) made at ``event_at``, its statistics included, or
        reopen a visit whose check-out began (``mode`` 'checkin' or 'checkout')."""
        args = (mode, visit_id, keys.venue_channel(venue_id), venue_id, now, minute_of(event_at),
                minute_of(now), STATS_TTL, kind, ticket_hash)
        day_stats, minute_stats, _, recent = self._stats_keys(venue_id, event_at)
        script_keys = (*keys.visit_keys(venue_id, ticket_hash), day_stats, minute_stats, recent,
                       keys.minute_counts(venue_id, day_of(now, self.tz)))
        return await self.runner.run(UNDO, script_keys, args)

    async def undo_or_leave(self, mode: str, venue_id: int, ticket_hash: str, visit_id: str,
                            event_at: float, kind: str = "visitor") -> None:
        """``undo`` now; if Redis does not answer, the reservation stays pending and the lease
        check releases or reopens it (the visitor gets a clear error meanwhile)."""
        try:
            await self.undo(mode, venue_id, ticket_hash, visit_id, time.time(), event_at, kind)
        except Exception:
            log.exception("could not undo a %s in Redis for venue %s", mode, venue_id)

    async def occupancy_for_answer(self, venue_id: int) -> Occupancy:
        """The count to put in an answer whose change SQL already holds; 503 if Redis is away."""
        try:
            return await self.occupancy(venue_id)
        except Exception as exc:
            log.exception("Redis call failed")
            raise ServiceUnavailable() from exc

    async def occupancy(self, venue_id: int) -> Occupancy:
        count, capacity, paused, waiting, offered = await self.runner.run(
            OCCUPANCY, (keys.count(venue_id), keys.config(venue_id), keys.line(venue_id),
                        keys.line_meta(venue_id)), ()
        )
        return Occupancy(
            count=int(count),
            capacity=int(capacity) if capacity is not None else None,
            paused=paused in (b"1", "1"),
            waiting=int(waiting),
            offered=int(offered),
        )
