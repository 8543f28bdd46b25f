"""Check-outs whose outcome Redis left unknown, finished in the background once it answers.

Both calls of the check-out script went unanswered: it may have run (the visit is closing in
Redis), so it must be finished, in SQL too. The visitor is told it is pending; this process
retries it (the script is idempotent) with the time the visitor left. Past the retry period, or
if the process stops, the lease check settles the visit from SQL (``visits.repair``).
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from occupancy.errors import DomainError, ServiceUnavailable

log = logging.getLogger(__name__)

# First try after this many seconds, then twice as long each time, for at most RETRY_FOR seconds.
FIRST_DELAY = 0.5
RETRY_FOR = 600.0
AT_MOST = 10_000  # check-outs waiting at once in a process: beyond, the lease check acts


class UnconfirmedCheckOuts:
    def __init__(self) -> None:
        self.waiting: dict[str, tuple[int, asyncio.Task]] = {}  # ticket hash -> (venue id, task)

    def finish_later(self, venue_id: int, ticket_hash: str,
                     finish: Callable[[], Awaitable[object]]) -> None:
        """Call ``finish`` until it succeeds; one task per ticket however often it is retried."""
        if ticket_hash in self.waiting:
            return
        if len(self.waiting) >= AT_MOST:
            log.error("unconfirmed check-out at venue %s not kept (too many waiting): the lease "
                      "check settles it once Redis is back", venue_id)
            return
        task = asyncio.create_task(self._retry(venue_id, finish))
        self.waiting[ticket_hash] = (venue_id, task)
        task.add_done_callback(lambda _: self.waiting.pop(ticket_hash, None))

    @staticmethod
    async def _retry(venue_id: int, finish: Callable[[], Awaitable[object]]) -> None:
        delay, give_up_at = FIRST_DELAY, time.monotonic() + RETRY_FOR
        while time.monotonic() < give_up_at:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
            try:
                await finish()
            except ServiceUnavailable as exc:
                log.warning("check-out at venue %s still unconfirmed (%s)", venue_id, exc.code)
            except DomainError:
                return  # e.g. the ticket is unknown: nothing left to finish
            except Exception as exc:
                log.warning("check-out at venue %s still unconfirmed (%s)", venue_id,
                            type(exc).__name__)
            else:
                log.info("finished a check-out at venue %s that Redis had left unconfirmed", venue_id)
                return
        log.error("could not finish a check-out at venue %s: the lease check settles it", venue_id)

    async def close(self) -> None:
        """Stop retrying (before the journal closes), saying which venues were left."""
        waiting = list(self.waiting.values())
        for _, task in waiting:
            task.cancel()
        await asyncio.gather(*(task for _, task in waiting), return_exceptions=True)
        if waiting:
            venues = sorted({venue_id for venue_id, _ in waiting})
            log.error("stopping with %d unconfirmed check-outs (venues %s): the lease check "
                      "settles them", len(waiting), venues)
