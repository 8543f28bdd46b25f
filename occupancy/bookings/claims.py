"""Claim: a booking turned into a visit at the door, by its visitor (the check-in carries the
booking code) or by door staff (who scan it), from its slot's start until its hold runs out.

The booking's places were held for it (check-ins leave them free, ``visits/checkin.lua``); the
claim moves them from held to in, in the same script as any admission, and its SQL write records
the visit and the claim in one transaction. The visit has the booking's id, so its sealed personal
data (bound to that id) is the booking's, and a retried claim inserts nothing twice.
"""

import logging
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import undefer

from occupancy import metrics
from occupancy.bookings import codes
from occupancy.bookings.errors import (
    BookingCancelled,
    BookingClaimed,
    BookingExpired,
    BookingOfAnotherVenue,
    ClaimTooEarly,
    UnknownBooking,
    refusals_counted,
)
from occupancy.bookings.models import Booking
from occupancy.bookings.service import Bookings
from occupancy.bookings.writes import BookingClaimed as ClaimWrite
from occupancy.errors import ServiceUnavailable
from occupancy.venues.service import VenueInfo
from occupancy.visits import tickets
from occupancy.visits.capacity import LiveVisit
from occupancy.visits.errors import VenueFull, VenuePaused
from occupancy.visits.results import CheckedIn
from occupancy.visits.service import Visits
from occupancy.visits.writes import NewVisit

log = logging.getLogger(__name__)


def claim_ticket(secret: str, venue_id: int, booking_hash: str) -> str:
    """The claimed visit's ticket, the same for every retry of a claim (a colon is never in a
    visitor's idempotency key, so it cannot be one's)."""
    return tickets.derive(secret, venue_id, f"booking:{booking_hash}")


class Claims:
    def __init__(self, bookings: Bookings, visits: Visits) -> None:
        self.bookings = bookings
        self.visits = visits

    async def claim(self, venue: VenueInfo, code: str) -> CheckedIn:
        """Admit a booked party in its slot (idempotent: a retry answers the same visit)."""
        with refusals_counted():
            return await self._claim(venue, code)

    async def _claim(self, venue: VenueInfo, code: str) -> CheckedIn:
        if codes.venue_of(code) != venue.id:
            raise BookingOfAnotherVenue()
        booking_hash = codes.digest(code)
        row = await self._row(booking_hash)
        if row is None or row.venue_id != venue.id:
            raise UnknownBooking()
        if row.cancelled_at is not None:
            raise BookingCancelled()
        if row.expired_at is not None:
            raise BookingExpired()
        plan = await self.bookings.plan(venue.id)
        hold_ends = row.slot_starts_at + timedelta(minutes=plan.hold_minutes)
        now = datetime.now(UTC)
        if row.claimed_at is None:  # a claimed booking replays whenever it is retried
            self._check_window(row, hold_ends, now)
        ticket = claim_ticket(self.visits.secret, venue.id, booking_hash)
        ticket_hash = tickets.digest(ticket)
        live = await self._admit(venue.id, row, ticket_hash, booking_hash, now, hold_ends)
        replayed = live.status == "replay"
        checked_in_at = datetime.fromtimestamp(live.checked_in_at, UTC)
        try:
            await self.visits.journal.write(ClaimWrite(booking_hash, NewVisit(
                id=row.id, venue_id=venue.id, ticket_hash=ticket_hash, party_size=live.party_size,
                checked_in_at=checked_in_at, kind="booking", personal=row.personal,
                personal_key_id=row.personal_key_id, phone_index=row.phone_index)))
        except Exception as exc:
            if not replayed:
                await self._give_back(venue.id, row, booking_hash, ticket_hash, live)
            raise ServiceUnavailable() from exc
        self.visits.capacity.confirm(venue.id, ticket_hash, live.visit_id, live.party_size,
                                     live.checked_in_at)
        if not replayed:
            metrics.CHECK_INS.inc()
            metrics.BOOKINGS.labels("claimed").inc()
            self.bookings.store.notify(venue.id, "claimed", live.party_size)
            metrics.VISITORS_ADMITTED.inc(live.party_size)
        return CheckedIn(ticket=ticket, visit_id=live.visit_id, venue=venue,
                         party_size=live.party_size, checked_in_at=checked_in_at,
                         count=live.count, capacity=live.capacity, replayed=replayed,
                         open=live.state == "open")

    async def _row(self, booking_hash: str) -> Booking | None:
        async with self.bookings.sessionmaker() as session:
            return (await session.execute(select(Booking).options(undefer(Booking.personal))
                                          .where(Booking.booking_hash == booking_hash))
                    ).scalar_one_or_none()

    @staticmethod
    def _check_window(row: Booking, hold_ends: datetime, now: datetime) -> None:
        if now < row.slot_starts_at:
            raise ClaimTooEarly(starts_at=row.slot_starts_at.isoformat())
        if now >= hold_ends:
            raise BookingExpired(held_until=hold_ends.isoformat())

    async def _admit(self, venue_id: int, row: Booking, ticket_hash: str, booking_hash: str,
                     now: datetime, hold_ends: datetime) -> LiveVisit:
        capacity = self.visits.capacity
        for _ in range(2):  # a second time once the booking's day is loaded from SQL
            at = time.time()
            try:
                live = await capacity.admit(venue_id, ticket_hash, row.party_size, row.id, at,
                                            "booking", claim=(booking_hash, row.slot))
            except Exception as exc:
                # The script may have run: give this claim back (only its own), then its places.
                log.error("Redis claim failed for venue %s: %s", venue_id, type(exc).__name__)
                await self._give_back(venue_id, row, booking_hash, ticket_hash,
                                      LiveVisit("ok", 0, 0, row.id, row.party_size, at))
                raise ServiceUnavailable() from exc
            if live.status != "booking_unknown":  # SQL has the booking: Redis lost its day
                break
            await self.bookings.load_day(
                venue_id, row.slot_starts_at.astimezone(self.bookings.tz).date())
        if live.status in ("ok", "replay"):
            return live
        if live.status == "no_config":
            raise self.visits.rebuilder.refusal(venue_id)
        if live.status == "full":
            metrics.REFUSALS.labels("full").inc()
            raise VenueFull(count=live.count, capacity=live.capacity, retry_after_seconds=60)
        if live.status == "paused":
            metrics.REFUSALS.labels("paused").inc()
            raise VenuePaused(count=live.count, capacity=live.capacity)
        if live.status in ("booking_cancelled", "booking_cancelling"):
            raise BookingCancelled()
        if live.status == "booking_claimed":
            raise BookingClaimed("This booking was already used to enter.")
        if live.status in ("booking_expired", "outside_slot"):
            self._check_window(row, hold_ends, now)
            raise BookingExpired(held_until=hold_ends.isoformat())
        raise ServiceUnavailable()

    async def _give_back(self, venue_id: int, row: Booking, booking_hash: str, ticket_hash: str,
                         live: LiveVisit) -> None:
        """The claim's SQL write failed: its booking holds its places again, then the visit's
        places are released (in this order, so that no walk-in takes them in between)."""
        try:
            await self.bookings.store.unclaim(venue_id, booking_hash, live.visit_id, row.slot)
        except Exception:
            log.exception("could not give a claim back to its booking in Redis for venue %s",
                          venue_id)
            return  # the visit keeps the places: never more than capacity, and the lease check
        await self.visits.capacity.undo_or_leave("checkin", venue_id, ticket_hash, live.visit_id,
                                                 live.checked_in_at, "booking")
