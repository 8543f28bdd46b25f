"""The live side of the line: one script call per operation on the venue's hash-tagged keys."""

import json
import time
from dataclasses import dataclass
from pathlib import Path

from occupancy import redis_keys as keys
from occupancy.kit.scripts import Script, ScriptRunner

HERE = Path(__file__).parent
JOIN = Script(HERE / "join.lua")
UNJOIN = Script(HERE / "unjoin.lua")
LEAVE = Script(HERE / "leave.lua")
ADVANCE = Script(HERE / "advance.lua")
STATUS = Script(HERE / "status.lua")
SUMMARY = Script(HERE / "summary.lua")
LOAD = Script(HERE / "load.lua")
UNCLAIM = Script(HERE / "unclaim.lua")
PAUSE = Script(HERE / "pause.lua")
CONFIRM = Script(HERE / "confirm.lua")
OFFER_TIME = Script(HERE / "offer_time.lua")
ALL_SCRIPTS = (JOIN, UNJOIN, LEAVE, ADVANCE, STATUS, SUMMARY, LOAD, UNCLAIM, PAUSE, CONFIRM,
               OFFER_TIME)


def text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class Entry:
    """A party in the line, as Redis holds it."""

    id: str
    party: int
    joined_at: float
    state: str  # waiting | offered | claimed | left | passed
    turn: int
    offer_until: float | None = None
    phone_index: str | None = None  # the phone's keyed hash, never the number

    @classmethod
    def parse(cls, raw) -> "Entry":
        e = json.loads(raw)
        return cls(e["i"], int(e["p"]), float(e["j"]), e["s"], int(e["q"]), e.get("u"),
                   e.get("n"))


@dataclass(frozen=True, slots=True)
class Reply:
    status: str
    entry: Entry | None = None
    position: int = 0  # 1 for the head of the line; 0 once no longer waiting
    offer_times: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Moved:
    """What one run of advance.lua did."""

    status: str  # ok | paused | no_config | not_loaded
    passed: tuple[str, ...]  # entry hashes whose offer ran out
    offered: tuple[tuple[str, float], ...]  # (entry hash, end of its offer)


@dataclass(frozen=True, slots=True)
class Summary:
    status: str
    waiting: int
    offers_out: int
    places_offered: int
    paused: bool
    head: Entry | None
    offer_seconds: float | None = None  # the venue's own; None: the service's default


class LineStore:
    def __init__(self, runner: ScriptRunner) -> None:
        self.runner = runner

    async def _run(self, script: Script, venue_id: int, args: tuple, extra: tuple = ()) -> list:
        return await self.runner.run(script, (*keys.line_keys(venue_id), *extra), args)

    @staticmethod
    def _reply(raw: list) -> Reply:
        status, entry, position, *rest = raw
        times = tuple(float(text(t)) for t in (rest[0] if rest else ()))
        return Reply(text(status), Entry.parse(entry) if entry else None, int(position), times)

    async def join(self, venue_id: int, entry_hash: str, entry_id: str, party: int,
                   now: float, phone_index: str) -> Reply:
        return self._reply(await self._run(JOIN, venue_id, (
            entry_hash, entry_id, party, now, keys.venue_channel(venue_id), venue_id,
            phone_index)))

    async def unjoin(self, venue_id: int, entry_hash: str, entry_id: str) -> bool:
        """Take back this attempt's join (its SQL write failed)."""
        return bool(await self._run(UNJOIN, venue_id, (
            entry_hash, entry_id, 0, keys.venue_channel(venue_id), venue_id, time.time())))

    async def drop_orphan(self, venue_id: int, entry_hash: str, pending_before: float) -> bool:
        """Take back a join still pending since before ``pending_before`` (SQL has no row)."""
        return bool(await self._run(UNJOIN, venue_id, (
            entry_hash, "", pending_before, keys.venue_channel(venue_id), venue_id, time.time())))

    def confirm(self, venue_id: int, entry_hash: str) -> None:
        """The join's SQL row is committed. Sent with the next batch of script calls, not
        awaited: if it is lost, the lease check finds the row in SQL and confirms it then."""
        self.runner.post(CONFIRM, keys.line_keys(venue_id), (entry_hash,))

    async def leave(self, venue_id: int, entry_hash: str) -> Reply:
        status, entry = await self._run(LEAVE, venue_id, (
            entry_hash, keys.venue_channel(venue_id), venue_id, time.time()))
        return Reply(text(status), Entry.parse(entry) if entry else None)

    async def status(self, venue_id: int, entry_hash: str) -> Reply:
        return self._reply(await self._run(STATUS, venue_id, (entry_hash,)))

    async def advance(self, venue_id: int, now: float, offer_seconds: float,
                      mode: str = "auto") -> Moved:
        extra = (keys.count(venue_id), keys.config(venue_id), keys.holds(venue_id),
                 keys.held(venue_id))
        status, passed, offered = await self._run(ADVANCE, venue_id, (
            now, offer_seconds, mode, keys.venue_channel(venue_id), venue_id), extra)
        offered = [text(x) for x in offered]
        return Moved(text(status), tuple(text(h) for h in passed),
                     tuple((offered[i], float(offered[i + 1])) for i in range(0, len(offered), 2)))

    async def summary(self, venue_id: int) -> Summary:
        status, waiting, out, places, paused, head, offer = await self._run(SUMMARY, venue_id, ())
        return Summary(text(status), int(waiting), int(out), int(places), text(paused) == "1",
                       Entry.parse(head) if head else None,
                       float(text(offer)) if text(offer) else None)

    async def load(self, venue_id: int, paused: bool, last_turn: int, rows: list,
                   offer_seconds: float | None = None) -> bool:
        """Load a venue's open entries (SQL rows) unless its line is loaded already."""
        args = ["1" if paused else "0", last_turn, "" if offer_seconds is None else offer_seconds]
        for row in rows:
            offered = row.offered_at is not None
            args += [row.entry_hash, row.id, row.party_size, row.joined_at.timestamp(),
                     "offered" if offered else "waiting", row.seq,
                     row.offer_until.timestamp() if offered else 0, row.phone_index or ""]
        return bool(await self._run(LOAD, venue_id, tuple(args)))

    async def unclaim(self, venue_id: int, entry_hash: str, visit_id: str,
                      ticket_hash: str) -> bool:
        return bool(await self._run(UNCLAIM, venue_id, (entry_hash, visit_id),
                                    (keys.ticket(venue_id, ticket_hash),)))

    async def pause(self, venue_id: int, paused: bool) -> bool:
        return bool(await self._run(PAUSE, venue_id, ("1" if paused else "0",)))

    async def set_offer_seconds(self, venue_id: int, seconds: float | None) -> bool:
        return bool(await self._run(OFFER_TIME, venue_id, ("" if seconds is None else seconds,)))
