"""The live side of bookings: one script call per operation on the venue's hash-tagged keys."""

import json
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from occupancy import redis_keys as keys
from occupancy.kit.scripts import Script, ScriptRunner

HERE = Path(__file__).parent
BOOK = Script(HERE / "book.lua")
UNBOOK = Script(HERE / "unbook.lua")
CANCEL = Script(HERE / "cancel.lua")
LOAD_DAY = Script(HERE / "load_day.lua")
CONFIRM = Script(HERE / "confirm.lua")
UNCLAIM = Script(HERE / "unclaim.lua")
EXPIRE = Script(HERE / "expire.lua")
SET_DAY = Script(HERE / "set_day.lua")
NOTIFY = Script(HERE / "notify.lua")
ALL_SCRIPTS = (BOOK, UNBOOK, CANCEL, LOAD_DAY, CONFIRM, UNCLAIM, EXPIRE, SET_DAY, NOTIFY)


def text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def day_name(day: date) -> str:
    return f"{day:%Y%m%d}"


def _state(row) -> str:
    if row.cancelled_at is not None:
        return "cancelled"
    if row.expired_at is not None:
        return "expired"
    return "claimed" if row.claimed_at is not None else "booked"


@dataclass(frozen=True, slots=True)
class LiveBooking:
    status: str  # ok | replay | full | phone_limit | not_loaded | stale_plan
    booked: int  # places booked in the slot
    booking_id: str | None = None
    party_size: int | None = None
    booked_at: float | None = None
    state: str | None = None  # booked | cancelling | cancelled | claimed | expired
    day: dict[str, int] | None = None  # full: places booked per slot start (HHMM) that day

    @classmethod
    def from_reply(cls, reply: list) -> "LiveBooking":
        if text(reply[0]) == "full":
            flat = reply[6]
            day = dict(zip(flat[::2], flat[1::2], strict=True))
            return cls("full", int(reply[1]), day=_day_counts(day))
        status, booked, *rest = (*reply, *[None] * (6 - len(reply)))
        booking_id, party, at, state = rest[:4]
        return cls(text(status), int(booked), text(booking_id),
                   int(party) if party is not None else None,
                   float(at) if at is not None else None, text(state))


def _day_counts(raw: dict) -> dict[str, int] | None:
    """A day's hash (HHMM -> places booked): None if the day is not loaded."""
    fields = {text(k): text(v) for k, v in raw.items()}
    if fields.pop("loaded", None) != "1":
        return None
    return {start: int(booked) for start, booked in fields.items()}


class BookingStore:
    def __init__(self, runner: ScriptRunner) -> None:
        self.runner = runner

    @staticmethod
    def _keys(venue_id: int, day: str, booking_hash: str, phone_index: str) -> tuple:
        return (keys.booking_day(venue_id, day), keys.booking(venue_id, booking_hash),
                keys.phone_bookings(venue_id, day, phone_index))

    async def book(self, venue_id: int, day: str, start: str, booking_hash: str, phone_index: str,
                   booking_id: str, party: int, bookable: int, per_phone: int, now: float,
                   ttl: int, hold: tuple[float, float], plan_version: str) -> LiveBooking:
        """``hold``: the slot's start and the end of its hold (epoch seconds), while which the
        booking's places are held for it. ``plan_version``: the version of the plan that gave
        ``bookable``, ``per_phone`` and ``hold`` (refused ``stale_plan`` if no longer current)."""
        args = (start, booking_id, party, bookable, per_phone, now, ttl, booking_hash, day,
                phone_index, *hold, plan_version)
        script_keys = (*self._keys(venue_id, day, booking_hash, phone_index),
                       keys.pending_bookings(venue_id), keys.held(venue_id), keys.holds(venue_id),
                       keys.plan_version(venue_id))
        reply = await self.runner.run(BOOK, script_keys, args)
        return LiveBooking.from_reply(reply)

    async def unbook(self, venue_id: int, day: str, booking_hash: str, phone_index: str,
                     booking_id: str) -> bool:
        script_keys = (*self._keys(venue_id, day, booking_hash, phone_index),
                       keys.pending_bookings(venue_id), keys.held(venue_id))
        return bool(await self.runner.run(UNBOOK, script_keys, (booking_id, booking_hash, day)))

    def confirm(self, venue_id: int, booking_hash: str) -> None:
        """The booking's SQL row is committed. Sent with the next batch of script calls, not
        awaited: if it is lost, the lease check finds the row in SQL and confirms it then."""
        self.runner.post(CONFIRM, (keys.pending_bookings(venue_id),), (booking_hash,))

    async def cancel(self, mode: str, venue_id: int, day: str, booking_hash: str,
                     phone_index: str) -> tuple[str, int]:
        status, booked, _ = await self.runner.run(
            CANCEL, (*self._keys(venue_id, day, booking_hash, phone_index), keys.held(venue_id)),
            (mode, booking_hash, day))
        return text(status), int(booked)

    async def load_day(self, venue_id: int, day: str, rows: list, ttl: int, hold_seconds: int,
                       now: float) -> None:
        """Load a day's bookings (SQL rows) unless the day is loaded already; the unclaimed ones
        of a slot whose hold (``hold_seconds`` after its start) has not run out hold their places."""
        script_keys = [keys.booking_day(venue_id, day), keys.held(venue_id), keys.holds(venue_id)]
        args = [ttl, now, day]
        for row in rows:
            script_keys += [keys.booking(venue_id, row.booking_hash),
                            keys.phone_bookings(venue_id, day, row.phone_index or "")]
            start = row.slot_starts_at.timestamp()
            args += [row.booking_hash, row.id, row.slot[9:], row.party_size,
                     row.booked_at.timestamp(), _state(row), start, start + hold_seconds]
        await self.runner.run(LOAD_DAY, tuple(script_keys), tuple(args))

    async def unclaim(self, venue_id: int, booking_hash: str, visit_id: str, slot: str) -> bool:
        """Give a claim whose visit SQL did not record back to its booking (only this visit's)."""
        return bool(await self.runner.run(
            UNCLAIM, (keys.booking(venue_id, booking_hash), keys.held(venue_id)), (visit_id, slot)))

    async def expire(self, venue_id: int, booking_hash: str, now: float) -> str:
        """Mark a booking whose hold ran out expired, if still booked; its state before."""
        before = await self.runner.run(EXPIRE, (keys.booking(venue_id, booking_hash),
                                                keys.held(venue_id), keys.holds(venue_id)), (now,))
        return text(before)

    def notify(self, venue_id: int, change: str, party: int) -> None:
        """Tell the venue's dashboards its bookings changed (``change``: booked, cancelled,
        claimed or expired), with the next batch of script calls, not awaited: a lost notice
        only delays the figures until the next one or the page's own refresh."""
        event = json.dumps({"e": "booking", "b": change, "n": party, "t": int(time.time())})
        self.runner.post(NOTIFY, (keys.held(venue_id),), (keys.venue_channel(venue_id), event))

    async def day_counts(self, venue_id: int, day: str) -> dict[str, int] | None:
        """Places booked per slot start (HHMM) of a loaded day; None if the day is not loaded."""
        return _day_counts(await self.runner.client.hgetall(keys.booking_day(venue_id, day)))
