"""A visit: one party's stay at a venue, from check-in to check-out."""

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from occupancy.db import Base, UTCDateTime

# checkout_reason: one of visits.reasons.CheckOutReason. kind: visitor, or walkin (counted by door staff
# for someone without a phone: no personal data at all).


# Only open visits are in this index: it stays the size of the crowd inside, not of all history,
# and a check-out removes its entry. Every query for open visits says "checked_out_at IS NULL".
# At 10,000 venues it took a third off each SQL write (docs/benchmarks/history/2026-11.md).
_OPEN = text("checked_out_at IS NULL")


class Visit(Base):
    __tablename__ = "visits"
    __table_args__ = (
        Index("ix_visits_open", "venue_id", sqlite_where=_OPEN, postgresql_where=_OPEN),
        # By time, then the phone's blind index: tracing reads a date range of this index and
        # compares the blind index there. An index on the blind index alone put each new visit on
        # a random page of it, which cost a tenth of a check-in's CPU (docs/benchmarks.md); this
        # one only grows at its end.
        Index("ix_visits_checked_in_at_phone", "checked_in_at", "phone_index"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id", ondelete="CASCADE"))
    # Only the SHA-256 of the ticket is kept: a leaked table cannot act on visits.
    ticket_hash: Mapped[str] = mapped_column(String(64), unique=True)
    party_size: Mapped[int] = mapped_column(Integer)
    checked_in_at: Mapped[datetime] = mapped_column(UTCDateTime())
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    checkout_reason: Mapped[str | None] = mapped_column(String(10), default=None)
    temperature: Mapped[float | None] = mapped_column(Float, default=None)
    kind: Mapped[str] = mapped_column(String(10), default="visitor", server_default="visitor")
    # Personal data (name, phone, email), sealed: readable only with the health office's private
    # key (occupancy.privacy.sealing), and purged after the retention period with its data key.
    # Deferred, so loading a visit does not read it; only tracing (audited) does.
    personal: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)
    personal_key_id: Mapped[str | None] = mapped_column(String(32), default=None)
    # A keyed hash of the phone number (occupancy.privacy.blind_index), for tracing.
    phone_index: Mapped[str | None] = mapped_column(String(32), default=None)
