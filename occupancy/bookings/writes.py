"""What the journal writes for bookings, in the same group commit as the visits' rows."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Insert, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from occupancy.bookings.models import Booking
from occupancy.visits.journal import WriteKind
from occupancy.visits.models import Visit
from occupancy.visits.writes import NewVisit


@dataclass
class NewBooking:
    id: str
    venue_id: int
    booking_hash: str
    slot: str
    slot_starts_at: datetime
    slot_ends_at: datetime
    party_size: int
    booked_at: datetime
    personal: bytes | None = None
    personal_key_id: str | None = None
    phone_index: str | None = None

    @property
    def ticket_hash(self) -> str:  # the journal orders a batch's rows by it
        return self.booking_hash


@dataclass
class BookingCancelled:
    booking_hash: str
    cancelled_at: datetime

    @property
    def ticket_hash(self) -> str:
        return self.booking_hash


@dataclass
class BookingClaimed:
    """A booking turned into a visit: the visit's row and the booking's claim, in one transaction
    (reconcile never sees the party both held and in)."""

    booking_hash: str
    visit: NewVisit

    @property
    def ticket_hash(self) -> str:
        return self.booking_hash


@dataclass
class BookingExpired:
    booking_hash: str
    expired_at: datetime

    @property
    def ticket_hash(self) -> str:
        return self.booking_hash


BookingWrite = NewBooking | BookingCancelled | BookingClaimed | BookingExpired

_CANCEL = (update(Booking)
           .where(Booking.booking_hash == bindparam("bh"), Booking.cancelled_at.is_(None))
           .values(cancelled_at=bindparam("at")))


_CLAIM = (update(Booking)
          .where(Booking.booking_hash == bindparam("bh"), Booking.claimed_at.is_(None))
          .values(claimed_at=bindparam("at")))


_EXPIRE = (update(Booking)
           .where(Booking.booking_hash == bindparam("bh"), Booking.claimed_at.is_(None),
                  Booking.cancelled_at.is_(None), Booking.expired_at.is_(None))
           .values(expired_at=bindparam("at")))


def is_booking(write) -> bool:
    return isinstance(write, NewBooking | BookingCancelled | BookingClaimed | BookingExpired)


def apply_booking_writes(conn: Connection, writes: list) -> list[NewBooking]:
    """Execute the writes; return the new bookings whose code belongs to another booking (an
    idempotency key used for two different bookings). A retry of the same booking is no clash."""
    new = [w for w in writes if isinstance(w, NewBooking)]
    conflicts = []
    if new:
        conn.execute(_insert(conn, Booking), [vars(w) for w in new])
        owner = dict(conn.execute(select(Booking.booking_hash, Booking.id).where(
            Booking.booking_hash.in_([w.booking_hash for w in new]))).all())
        conflicts = [w for w in new if owner.get(w.booking_hash) != w.id]
    claims = [w for w in writes if isinstance(w, BookingClaimed)]
    if claims:
        # The visit's id is the booking's: a retried claim inserts nothing twice.
        conn.execute(_insert(conn, Visit), [vars(w.visit) for w in claims])
        conn.execute(_CLAIM, [{"bh": w.booking_hash, "at": w.visit.checked_in_at} for w in claims])
    expiries = [w for w in writes if isinstance(w, BookingExpired)]
    if expiries:
        conn.execute(_EXPIRE, [{"bh": w.booking_hash, "at": w.expired_at} for w in expiries])
    cancels = [w for w in writes if isinstance(w, BookingCancelled)]
    if cancels:
        conn.execute(_CANCEL, [{"bh": w.booking_hash, "at": w.cancelled_at} for w in cancels])
    return conflicts


def _insert(conn: Connection, model) -> Insert:
    insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    return insert(model).on_conflict_do_nothing()


WRITES = WriteKind(is_booking, apply_booking_writes)
