"""The lines in Redis compared with SQL, for ``occupancy reconcile``: per venue whose line Redis
has loaded, the parties waiting and the places offered to the line.

The service trusts a loaded line until Redis loses it (orphaned joins aside: ``line/leases.py``);
this finds drift (a write that never reached Redis or SQL, a hand edit) and, at the operator's
word, loads the drifted lines again from SQL. Not done by the service itself: a join's or an
offer's write in flight would look like drift.
"""

from dataclasses import dataclass

from sqlalchemy import case, func, select

from occupancy import redis_keys as keys
from occupancy.line.models import LineEntry
from occupancy.line.service import Line
from occupancy.line.store import text
from occupancy.venues import service as venue_service

VENUES_AT_ONCE = 500  # venues read from Redis per round trip

_OPEN = (LineEntry.claimed_at.is_(None), LineEntry.left_at.is_(None),
         LineEntry.passed_at.is_(None))


@dataclass(frozen=True, slots=True)
class LineDrift:
    venue_id: int
    what: str  # 'waiting' (parties) or 'offered' (places)
    redis: int
    sql: int


class LineReconciler:
    def __init__(self, line: Line) -> None:
        self.line = line

    async def compare(self) -> list[LineDrift]:
        async with self.line.sessionmaker() as session:
            venue_ids = await venue_service.venue_ids(session)
        in_redis = {}
        for start in range(0, len(venue_ids), VENUES_AT_ONCE):
            in_redis |= await self._redis(venue_ids[start:start + VENUES_AT_ONCE])
        in_sql = await self._sql()
        drift = []
        for venue_id, ours in sorted(in_redis.items()):
            theirs = in_sql.get(venue_id, (0, 0))
            drift += [LineDrift(venue_id, what, ours[i], theirs[i])
                      for i, what in enumerate(("waiting", "offered")) if ours[i] != theirs[i]]
        return drift

    async def repair(self) -> list[LineDrift]:
        """Compare, then load each drifted line again from SQL; the drift found."""
        drift = await self.compare()
        for venue_id in sorted({d.venue_id for d in drift}):
            await self.line.reload(venue_id)
        return drift

    async def _redis(self, venue_ids: list[int]) -> dict[int, tuple[int, int]]:
        """(parties waiting, places offered) of each venue whose line Redis has loaded."""
        pipe = self.line.store.runner.client.pipeline(transaction=False)
        for venue_id in venue_ids:
            pipe.hmget(keys.line_meta(venue_id), "loaded", "offered")
            pipe.zcard(keys.line(venue_id))
        replies = await pipe.execute()
        figures = {}
        for venue_id, (loaded, offered), waiting in zip(
                venue_ids, replies[::2], replies[1::2], strict=True):
            if text(loaded or "") == "1":
                figures[venue_id] = (int(waiting), int(text(offered or "0")))
        return figures

    async def _sql(self) -> dict[int, tuple[int, int]]:
        offered = LineEntry.offered_at.is_not(None)
        async with self.line.sessionmaker() as session:
            rows = (await session.execute(
                select(LineEntry.venue_id,
                       func.sum(case((offered, 0), else_=1)),
                       func.sum(case((offered, LineEntry.party_size), else_=0)))
                .where(*_OPEN).group_by(LineEntry.venue_id))).all()
        return {venue_id: (int(waiting), int(places)) for venue_id, waiting, places in rows}
