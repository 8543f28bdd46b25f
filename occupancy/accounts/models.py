"""Operator-issued access tokens: the credential for staff, managers, officials, operators and
the metrics scraper (monitor)."""

from datetime import UTC, datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from occupancy.db import Base, UTCDateTime

# A monitor token reads /metrics and nothing else: what a Prometheus scraper holds.
ROLES = ("operator", "official", "manager", "staff", "monitor")


class AccessToken(Base):
    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(10))
    # Managers and door staff are bound to one venue; officials and operators see all.
    venue_id: Mapped[int | None] = mapped_column(
        ForeignKey("venues.id", ondelete="CASCADE"), default=None
    )
    label: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: datetime.now(UTC))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Every token expires (OCCUPANCY_TOKEN_DAYS after it was issued unless told otherwise).
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A person's page session names the person (ended when they are removed or their role changes).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None)
    # A page session (the cookie set by the login form) names the token it was opened with: it
    # ends with it, and the cookie never holds the token itself.
    session_of: Mapped[int | None] = mapped_column(
        ForeignKey("access_tokens.id", ondelete="CASCADE"), default=None)


class User(Base):
    """A person who signs in with a password: admin (operator), official, manager or door staff
    of one venue, or monitor."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    # argon2id through pwdlib; the password itself is never stored.
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10))
    venue_id: Mapped[int | None] = mapped_column(
        ForeignKey("venues.id", ondelete="CASCADE"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: datetime.now(UTC))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
