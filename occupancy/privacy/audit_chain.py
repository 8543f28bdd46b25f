"""A hash chain over the contact-tracing audit log: each record carries the digest of the one
before it and its own, so a record edited, removed or slipped in by someone who bypassed the
database triggers (the owner of the database can drop them) shows as a break.

A person who can rewrite the whole table can also recompute the whole chain: the head digest,
which `occupancy audit verify` prints, is what the health office notes down elsewhere to detect
that too.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

GENESIS = "0" * 64


class AuditRecord:
    """What the chain covers of a record (the model's columns)."""

    at: datetime
    asked_by: str
    question: str
    cases: int
    revealed: int
    outcome: str
    previous: str
    digest: str


def digest(record: AuditRecord) -> str:
    at = record.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fields = (record.previous, at, record.asked_by, record.question, str(record.cases),
              str(record.revealed), record.outcome)
    # Each field's length first: no two different records hash the same text.
    text = "".join(f"{len(field)}:{field}" for field in fields)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainCheck:
    records: int
    head: str
    broken_at: int | None  # the id of the first record that does not follow from the one before

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def check(records_in_id_order: list) -> ChainCheck:
    previous = GENESIS
    for record in records_in_id_order:
        if record.previous != previous or record.digest != digest(record):
            return ChainCheck(len(records_in_id_order), previous, record.id)
        previous = record.digest
    return ChainCheck(len(records_in_id_order), previous, None)
