"""The line in SQL: what Redis is rebuilt from. No personal data: party size, times, state, and
the phone's keyed hash (one place per phone), never the number."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from occupancy.db import Base, UTCDateTime

_OPEN = text("claimed_at IS NULL AND left_at IS NULL AND passed_at IS NULL")


class LineEntry(Base):
    """One party in a venue's line. Waiting while none of offered/claimed/left/passed is set;
    offered once offered_at is set and none of the last three."""

    __tablename__ = "line_entries"
    __table_args__ = (
        # The open entries of a venue in their turn's order, read when Redis loads its line.
        Index("ix_line_entries_venue_seq", "venue_id", "seq"),
        # The venues whose line has parties in it, read every second by the offers' job: only
        # the open entries, however many the table keeps.
        Index("ix_line_entries_open", "venue_id", sqlite_where=_OPEN, postgresql_where=_OPEN),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id", ondelete="CASCADE"))
    # Only the SHA-256 of the line code is kept, as for a ticket.
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)
    party_size: Mapped[int] = mapped_column(Integer)
    # The turn Redis gave the party (first come, first served), kept across a reload.
    seq: Mapped[int] = mapped_column(Integer)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    offer_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Its offer ran out unclaimed and passed to the next party.
    passed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The phone's keyed hash (privacy.blind_index): one open place per phone, kept across a
    # reload. None for the entries joined before the line asked for a phone.
    phone_index: Mapped[str | None] = mapped_column(String(32), default=None)


class LineSetting(Base):
    """A venue's line as its manager set it: paused (no offers are made until resumed), and the
    minutes the head of the line has to claim the places offered (None: the service's default,
    ``OCCUPANCY_LINE_OFFER_MINUTES``)."""

    __tablename__ = "line_settings"

    venue_id: Mapped[int] = mapped_column(
        ForeignKey("venues.id", ondelete="CASCADE"), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    offer_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
