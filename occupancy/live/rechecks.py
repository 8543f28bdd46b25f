"""Signed-in sockets are closed once their token no longer allows them (revoked or expired).

One loop per process asks every few seconds, once per distinct token rather than once per
socket: thousands of screens share a few tokens, and a timer and task per socket cost every
socket a wake-up each round and a few KiB for as long as it stays open. A token's sockets are
walked only when its answer changed or a socket joined it since the last round: walking 10,000
sockets of an unchanged token every round was a quarter of a worker.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from occupancy.accounts.service import Principal
from occupancy.errors import DomainError

# How often the tokens of open sockets are asked about again.
RECHECK_SECONDS = 3.0

Allows = Callable[[Principal], bool]


class Rechecks:
    def __init__(self, principal: Callable[[str], Awaitable[Principal | None]],
                 every: float = RECHECK_SECONDS) -> None:
        self.principal = principal
        self.every = every
        # token -> each open socket's "revoked" future -> what that socket needs the token to allow
        self._sockets: dict[str, dict[asyncio.Future, Allows]] = {}
        # token -> the answer its sockets were last checked against (all of them allowed by it)
        self._checked: dict[str, Principal | None] = {}

    @contextlib.contextmanager
    def watch(self, token: str | None, allows: Allows):
        """A future done once ``token`` stops allowing what ``allows`` asks, while inside."""
        revoked = asyncio.get_running_loop().create_future()
        if token is None:  # nobody signed in: nothing to revoke (the route refused it already)
            revoked.set_result(None)
            yield revoked
            return
        watchers = self._sockets.setdefault(token, {})
        watchers[revoked] = allows
        self._checked.pop(token, None)  # a new socket: walk this token's sockets next round
        try:
            yield revoked
        finally:
            watchers.pop(revoked, None)
            if not watchers:
                self._sockets.pop(token, None)
                self._checked.pop(token, None)

    def watching(self) -> int:
        return sum(len(w) for w in self._sockets.values())

    async def check_all(self) -> None:
        for token in list(self._sockets):
            try:
                who = await self.principal(token)
            except DomainError:
                continue  # tokens cannot be checked just now: no reason to cut a watcher off
            if who is not None and token in self._checked and self._checked[token] == who:
                continue  # the same answer its sockets were all allowed by last round
            for revoked, allows in list(self._sockets.get(token, {}).items()):
                if (who is None or not allows(who)) and not revoked.done():
                    revoked.set_result(None)
            if token in self._sockets:
                self._checked[token] = who
