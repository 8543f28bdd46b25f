"""A venue: a place with a capacity that visitors check in to."""

from datetime import UTC, datetime

from sqlalchemy import Boolean, Float, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from occupancy.db import Base, UTCDateTime


class Venue(Base):
    __tablename__ = "venues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    district: Mapped[str] = mapped_column(String(80), default="")
    category: Mapped[str] = mapped_column(String(40), default="shop")
    capacity: Mapped[int] = mapped_column(Integer)
    max_party: Mapped[int] = mapped_column(Integer, default=10)
    max_stay_minutes: Mapped[int] = mapped_column(Integer, default=240)
    fever_threshold: Mapped[float] = mapped_column(Float, default=37.5)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # Check-ins need the rotating code of the screen at the door (occupancy.venues.door).
    door_code_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # While paused: what visitors are told, and when entry should reopen (both cleared on reopening).
    pause_note: Mapped[str | None] = mapped_column(String(200), default=None)
    reopens_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Where it is (WGS 84 degrees), for the city map: both or neither (service.validate_location).
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: datetime.now(UTC))
