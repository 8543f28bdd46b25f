"""History: one row per venue and hour, and the city's peak per hour, rolled up from the
per-minute counters in Redis."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from occupancy.db import Base, UTCDateTime


class VenueHour(Base):
    __tablename__ = "venue_hours"
    __table_args__ = (Index("ix_venue_hours_hour_start", "hour_start"),)

    venue_id: Mapped[int] = mapped_column(
        ForeignKey("venues.id", ondelete="CASCADE"), primary_key=True
    )
    hour_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    entries: Mapped[int] = mapped_column(Integer, default=0)
    exits: Mapped[int] = mapped_column(Integer, default=0)
    visitors_in: Mapped[int] = mapped_column(Integer, default=0)
    visitors_out: Mapped[int] = mapped_column(Integer, default=0)
    peak_count: Mapped[int] = mapped_column(Integer, default=0)
    refused_full: Mapped[int] = mapped_column(Integer, default=0)
    refused_fever: Mapped[int] = mapped_column(Integer, default=0)
    minutes_full: Mapped[int] = mapped_column(Integer, default=0)
    stay_seconds: Mapped[int] = mapped_column(Integer, default=0)
    stays: Mapped[int] = mapped_column(Integer, default=0)


class CityHour(Base):
    """The most people in all venues at once during one hour, minute by minute (see
    ``rollup.city_hours``): the venues' own peaks come at different times, so their sum is not it."""

    __tablename__ = "city_hours"

    hour_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    peak_count: Mapped[int] = mapped_column(Integer, default=0)
