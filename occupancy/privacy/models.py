"""The data keys of personal data, each stored only sealed to the health office's public key."""

from datetime import datetime

from sqlalchemy import LargeBinary, String
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
