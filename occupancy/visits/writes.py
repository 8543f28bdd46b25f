"""What the journal writes, and the SQL that applies a batch of it.

Three kinds of write: a new visit, a visit closed, a temperature taken. A batch is applied by
``apply_writes`` on a synchronous connection (SQLite, or PostgreSQL when a batch changes a visit
twice), or as one statement over arrays on PostgreSQL (``PG_BATCH``).
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Dialect, Insert, bindparam, func, select, update

from occupancy.db import naive_utc
from occupancy.visits.models import Visit


@dataclass
class NewVisit:
    id: str
    venue_id: int
    ticket_hash: str
    party_size: int
    checked_in_at: datetime
    kind: str = "visitor"
    # Sealed personal data (occupancy.privacy): none for walk-ins.
    personal: bytes | None = None
    personal_key_id: str | None = None
    phone_index: str | None = None


@dataclass
class VisitClosed:
    ticket_hash: str
    checked_out_at: datetime
    checkout_reason: str
    temperature: float | None = None


@dataclass
class TemperatureTaken:
    ticket_hash: str
    temperature: float


Write = NewVisit | VisitClosed | TemperatureTaken


_CLOSE = (
    update(Visit)
    .where(Visit.ticket_hash == bindparam("th"), Visit.checked_out_at.is_(None))
    .values(
        checked_out_at=bindparam("at"),
        checkout_reason=bindparam("reason"),
        temperature=func.coalesce(bindparam("temp"), Visit.temperature),
    )
)
_TEMPERATURE = (
    update(Visit).where(Visit.ticket_hash == bindparam("th")).values(temperature=bindparam("temp"))
)


# PostgreSQL: a whole batch is one statement over arrays (data-modifying CTEs), atomic by itself
# with no BEGIN and COMMIT of its own: one round trip instead of three, and no SQLAlchemy
# statement per kind of write. Its parts see the table as it was before the statement, which is
# enough: a visit is closed or measured only after its insert was acknowledged, in an earlier
# batch. Times are naive UTC, as UTCDateTime stores them.
PG_BATCH = """
WITH new AS (
    INSERT INTO visits (id, venue_id, ticket_hash, party_size, checked_in_at, personal,
                        personal_key_id, phone_index, kind)
    SELECT * FROM unnest($1::varchar[], $2::int[], $3::varchar[], $4::int[], $5::timestamp[],
                         $6::bytea[], $7::varchar[], $8::varchar[], $9::varchar[])
    ON CONFLICT DO NOTHING
    RETURNING ticket_hash
), closed AS (
    UPDATE visits SET checked_out_at = c.at, checkout_reason = c.reason,
                      temperature = coalesce(c.temp, visits.temperature)
    FROM unnest($10::varchar[], $11::timestamp[], $12::varchar[], $13::float8[]) AS c(th, at, reason, temp)
    WHERE visits.ticket_hash = c.th AND visits.checked_out_at IS NULL
), measured AS (
    UPDATE visits SET temperature = t.temp
    FROM unnest($14::varchar[], $15::float8[]) AS t(th, temp)
    WHERE visits.ticket_hash = t.th
)
SELECT ticket_hash FROM new
"""


def pg_batch_arguments(writes: list[Write]) -> tuple:
    new = [w for w in writes if isinstance(w, NewVisit)]
    closes = [w for w in writes if isinstance(w, VisitClosed)]
    temperatures = [w for w in writes if isinstance(w, TemperatureTaken)]
    return (
        [w.id for w in new], [w.venue_id for w in new], [w.ticket_hash for w in new],
        [w.party_size for w in new], [naive_utc(w.checked_in_at) for w in new],
        [w.personal for w in new], [w.personal_key_id for w in new],
        [w.phone_index for w in new], [w.kind for w in new],
        [w.ticket_hash for w in closes], [naive_utc(w.checked_out_at) for w in closes],
        [w.checkout_reason for w in closes], [w.temperature for w in closes],
        [w.ticket_hash for w in temperatures], [w.temperature for w in temperatures],
    )


def changes_a_visit_twice(writes: list[Write]) -> bool:
    """Two closes or temperatures of one visit in a batch (PostgreSQL's one statement would
    apply only one of them)."""
    changed = [w.ticket_hash for w in writes if not isinstance(w, NewVisit)]
    return len(set(changed)) != len(changed)


def apply_writes(conn: Connection, insert: Insert, writes: list[Write]) -> list[Write]:
    """Execute the writes; return the new visits whose ticket belongs to another visit."""
    new = [w for w in writes if isinstance(w, NewVisit)]
    conflicts = []
    if new and (clashing := _insert_visits(conn, insert, new)):
        conflicts = other_visits(conn, clashing)
    closes = [w for w in writes if isinstance(w, VisitClosed)]
    if closes:
        conn.execute(_CLOSE, [
            {"th": w.ticket_hash, "at": w.checked_out_at, "reason": w.checkout_reason,
             "temp": w.temperature}
            for w in closes
        ])
    temperatures = [w for w in writes if isinstance(w, TemperatureTaken)]
    if temperatures:
        conn.execute(_TEMPERATURE, [{"th": w.ticket_hash, "temp": w.temperature} for w in temperatures])
    return conflicts


def _insert_visits(conn: Connection, insert: Insert, new: list[NewVisit]) -> list[NewVisit]:
    """Insert the new visits; return those whose ticket may have been in the table already."""
    result = conn.execute(insert, [vars(w) for w in new])
    if result.returns_rows:
        inserted = set(result.scalars())
        return [w for w in new if w.ticket_hash not in inserted]
    # Without RETURNING (a third of a SQLite batch's cost): the count of rows inserted says
    # whether any ticket clashed, and only then are all of them looked up.
    return [] if result.rowcount == len(new) else new


class SqliteWrites:
    """A batch of visits' writes on SQLite as plain SQL over tuples (``exec_driver_sql``).

    The same statements as ``apply_writes`` with the values converted as SQLAlchemy would (its
    own bind processor for times), but without compiling and processing each statement and row,
    which took about a third of a batch's CPU in the journal's thread (holding the GIL the event
    loop needs). SQLAlchemy still wraps the driver's errors, so the journal tells them apart.
    """

    INSERT = ("INSERT INTO visits (id, venue_id, ticket_hash, party_size, checked_in_at, kind,"
              " personal, personal_key_id, phone_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
              " ON CONFLICT DO NOTHING")
    CLOSE = ("UPDATE visits SET checked_out_at = ?, checkout_reason = ?,"
             " temperature = coalesce(?, temperature) WHERE ticket_hash = ? AND checked_out_at IS NULL")
    TEMPERATURE = "UPDATE visits SET temperature = ? WHERE ticket_hash = ?"

    def __init__(self, dialect: Dialect) -> None:
        self._time = Visit.__table__.c.checked_in_at.type.bind_processor(dialect)

    def apply(self, conn: Connection, writes: list[Write]) -> list[Write]:
        """Execute the writes in ``conn``'s transaction; the new visits whose ticket belongs to
        another visit."""
        at = self._time
        new, closes, temperatures = [], [], []
        for w in writes:
            if isinstance(w, NewVisit):
                new.append(w)
            elif isinstance(w, VisitClosed):
                closes.append((at(w.checked_out_at), w.checkout_reason, w.temperature, w.ticket_hash))
            else:
                temperatures.append((w.temperature, w.ticket_hash))
        conflicts = []
        if new:
            result = conn.exec_driver_sql(self.INSERT, [
                (w.id, w.venue_id, w.ticket_hash, w.party_size, at(w.checked_in_at), w.kind,
                 w.personal, w.personal_key_id, w.phone_index) for w in new])
            # The count of rows inserted says whether any ticket clashed (see _insert_visits).
            if result.rowcount != len(new):
                conflicts = other_visits(conn, new)
        if closes:
            conn.exec_driver_sql(self.CLOSE, closes)
        if temperatures:
            conn.exec_driver_sql(self.TEMPERATURE, temperatures)
        return conflicts


def other_visits(conn: Connection, clashing: list[NewVisit]) -> list[NewVisit]:
    """Of inserts that hit an existing ticket, those whose row is another visit.

    A retry of the same visit (same id) is fine: the row it wanted is there.
    """
    hashes = [w.ticket_hash for w in clashing]
    owner = dict(conn.execute(select(Visit.ticket_hash, Visit.id).where(Visit.ticket_hash.in_(hashes))).all())
    return [w for w in clashing if owner.get(w.ticket_hash) != w.id]
