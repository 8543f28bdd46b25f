"""A venue's slot plan: the day cut into slots, each with its own capacity."""

from datetime import UTC, datetime

from sqlalchemy import ForeignKey, Integer, String
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
