"""A venue's slot plan (the day cut into slots, each with its own capacity) and its bookings."""

from datetime import UTC, datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from occupancy.db import Base, UTCDateTime


class SlotPlan(Base):
    """A venue with a plan is run by slots; one without takes no bookings."""

    __tablename__ = "slot_plans"

    venue_id: Mapped[int] = mapped_column(
        ForeignKey("venues.id", ondelete="CASCADE"), primary_key=True)
    # The slots of an open day, in the city's local time: "07:00-09:00,09:00-11:00", sorted and
    # not overlapping (occupancy.bookings.plan.parse_ranges).
    ranges: Mapped[str] = mapped_column(String(600))
    # ISO weekdays open for slots, e.g. "12345" for Monday to Friday.
    weekdays: Mapped[str] = mapped_column(String(7), default="1234567")
    # Places per slot, and the share of them (percent) that may be booked in advance: the rest
    # stays for walk-ins.
    capacity: Mapped[int] = mapped_column(Integer)
    advance_percent: Mapped[int] = mapped_column(Integer, default=100)
    # A booking not claimed this long after its slot starts expires and frees its places.
    hold_minutes: Mapped[int] = mapped_column(Integer, default=15)
    # Bookings one phone number (its blind index) may hold at the venue on one day.
    per_phone: Mapped[int] = mapped_column(Integer, default=1)
    # How many days ahead (today being 0) a slot may be booked.
    days_ahead: Mapped[int] = mapped_column(Integer, default=7)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=lambda: datetime.now(UTC), onupdate=lambda: datetime.now(UTC))


class Booking(Base):
    """One party's places in a slot, booked in advance; cancelled_at once given back, claimed_at
    once turned into a visit."""

    __tablename__ = "bookings"
    __table_args__ = (
        # A venue's day of bookings, read whole when Redis loads that day (bookings.rebuild).
        Index("ix_bookings_venue_slot", "venue_id", "slot"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id", ondelete="CASCADE"))
    # Only the SHA-256 of the booking code is kept, as for a visit's ticket.
    booking_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The slot's name (local day and start, "20261207-0700") and its times.
    slot: Mapped[str] = mapped_column(String(13))
    slot_starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    slot_ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    party_size: Mapped[int] = mapped_column(Integer)
    booked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Set when the booking was turned into a visit at the door: the visit has the booking's id.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Set when its hold ran out unclaimed (occupancy.bookings.expiry): its places were given back.
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Sealed like a visit's (occupancy.privacy.sealing) and purged like it (privacy.purge).
    personal: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)
    personal_key_id: Mapped[str | None] = mapped_column(String(32), default=None)
    # The phone's keyed hash (privacy.blind_index): the per-phone limit counts by it.
    phone_index: Mapped[str | None] = mapped_column(String(32), default=None)
