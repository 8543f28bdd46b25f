"""What the journal writes for the line, in the same group commit as the visits' rows."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from occupancy.line.models import LineEntry
from occupancy.visits.journal import WriteKind
from occupancy.visits.models import Visit
from occupancy.visits.writes import NewVisit


@dataclass
class LineJoined:
    id: str
    venue_id: int
    entry_hash: str
    party_size: int
    seq: int
    joined_at: datetime
    phone_index: str | None = None

    @property
    def ticket_hash(self) -> str:  # the journal orders a batch's rows by it
        return self.entry_hash


@dataclass
class LineChanged:
    """An offer made (``offered_at`` and ``offer_until``), passed, or the party left."""

    entry_hash: str
    change: str  # offered | passed | left
    at: datetime
    offer_until: datetime | None = None

    @property
    def ticket_hash(self) -> str:
        return self.entry_hash


@dataclass
class LineClaimed:
    """Offered places taken: the visit's row and the entry's claim in one transaction."""

    entry_hash: str
    visit: NewVisit

    @property
    def ticket_hash(self) -> str:
        return self.entry_hash


_OPEN = (LineEntry.claimed_at.is_(None), LineEntry.left_at.is_(None),
         LineEntry.passed_at.is_(None))
_BY_HASH = LineEntry.entry_hash == bindparam("h")
_UPDATES = {
    "offered": update(LineEntry).where(_BY_HASH, *_OPEN).values(
        offered_at=bindparam("at"), offer_until=bindparam("until")),
    "passed": update(LineEntry).where(_BY_HASH, *_OPEN).values(passed_at=bindparam("at")),
    "left": update(LineEntry).where(_BY_HASH, *_OPEN).values(left_at=bindparam("at")),
    "claimed": update(LineEntry).where(_BY_HASH, LineEntry.claimed_at.is_(None)).values(
        claimed_at=bindparam("at")),
}


def is_line(write) -> bool:
    return isinstance(write, LineJoined | LineChanged | LineClaimed)


def apply_line_writes(conn: Connection, writes: list) -> list:
    """Execute the line's writes (each safe to apply twice), joins first; return the joins whose
    code SQL holds for another entry."""
    insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    joins = [w for w in writes if isinstance(w, LineJoined)]
    conflicts = []
    if joins:
        conn.execute(insert(LineEntry).on_conflict_do_nothing(), [vars(w) for w in joins])
        # A retry of a join that has finished (Redis forgot it) made a new entry there: SQL
        # keeps the first, and the join is answered from it (line/service.py).
        owner = dict(conn.execute(select(LineEntry.entry_hash, LineEntry.id).where(
            LineEntry.entry_hash.in_([w.entry_hash for w in joins]))).all())
        conflicts = [w for w in joins if owner.get(w.entry_hash) != w.id]
    claims = [w for w in writes if isinstance(w, LineClaimed)]
    if claims:
        conn.execute(insert(Visit).on_conflict_do_nothing(), [vars(w.visit) for w in claims])
        conn.execute(_UPDATES["claimed"], [{"h": w.entry_hash, "at": w.visit.checked_in_at}
                                           for w in claims])
    for change in ("offered", "passed", "left"):
        rows = [{"h": w.entry_hash, "at": w.at, **({"until": w.offer_until} if w.offer_until else {})}
                for w in writes if isinstance(w, LineChanged) and w.change == change]
        if rows:
            conn.execute(_UPDATES[change], rows)
    return conflicts


WRITES = WriteKind(is_line, apply_line_writes)
