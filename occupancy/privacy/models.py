"""The data keys of personal data (each stored only sealed to the health office's public key),
and the audit log of contact tracing."""

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from occupancy.db import Base, UTCDateTime


class DataKey(Base):
    """One process's data key for one period. Deleting the row makes the personal data sealed
    with it unreadable for good (the purge deletes it after the retention period)."""

    __tablename__ = "data_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Which health office key pair opens it (a fingerprint of the public half): keys rotate.
    office_key_id: Mapped[str] = mapped_column(String(16))
    sealed_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # No visit is sealed with this key after this moment.
    used_until: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class TraceAudit(Base):
    """One contact-tracing query: who asked, when, what, and how many people it revealed.

    Append-only: triggers in the database (migration 0006) refuse every UPDATE and DELETE.
    """

    __tablename__ = "trace_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    asked_by: Mapped[str] = mapped_column(String(120))
    # What was asked, without personal data: "phone <blind index>" or "ticket <hash prefix>",
    # and the date range.
    question: Mapped[str] = mapped_column(String(200))
    cases: Mapped[int] = mapped_column(Integer)  # visits of the case found
    revealed: Mapped[int] = mapped_column(Integer)  # people whose personal data was opened
    outcome: Mapped[str] = mapped_column(String(20))  # "answered", "wrong_key", "not_found"
    # The hash chain (privacy.audit_chain): the digest of the record before (unique, so two
    # queries at once cannot both follow the same record) and of this one.
    previous: Mapped[str] = mapped_column(String(64), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
