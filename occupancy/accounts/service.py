"""Issue, check and revoke operator-issued access tokens. Only a token's SHA-256 is stored."""

import asyncio
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from occupancy.accounts.models import ROLES, AccessToken
from occupancy.errors import InvalidInput, ServiceUnavailable

log = logging.getLogger(__name__)

TOKEN_PREFIX = "occ_"
# Answers remembered, good and bad: enough for every token in use, few enough that made-up
# tokens sent by the thousand cannot fill the memory.
REMEMBER_AT_MOST = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    role: str
    venue_id: int | None
    label: str

    def may_manage(self, venue_id: int) -> bool:
        return self.role == "operator" or (self.role == "manager" and self.venue_id == venue_id)

    def may_staff(self, venue_id: int) -> bool:
        return self.may_manage(venue_id) or (self.role == "staff" and self.venue_id == venue_id)

    def may_see_city(self) -> bool:
        return self.role in ("operator", "official")

    def may_read_metrics(self) -> bool:
        return self.role in ("operator", "monitor")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(
    session: AsyncSession, role: str, venue_id: int | None = None, label: str = "",
    days: float = 90,
) -> str:
    if role not in ROLES:
        raise InvalidInput(f"Role must be one of: {', '.join(ROLES)}.", field="role")
    if role in ("manager", "staff") and venue_id is None:
        raise InvalidInput(f"A {role} token belongs to one venue: give the venue.", field="venue")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    if days <= 0:
        raise InvalidInput("A token lasts a positive number of days.", field="days")
    session.add(AccessToken(token_hash=digest(token), role=role, venue_id=venue_id, label=label,
                            expires_at=datetime.now(UTC) + timedelta(days=days)))
    await session.commit()
    return token


def _valid(now: datetime):
    """Not revoked, not expired; a page session also only while its token is."""
    parent = aliased(AccessToken)
    return (select(AccessToken).outerjoin(parent, parent.id == AccessToken.session_of)
            .where(AccessToken.revoked_at.is_(None), AccessToken.expires_at > now,
                   or_(AccessToken.session_of.is_(None),
                       and_(parent.revoked_at.is_(None), parent.expires_at > now))))


async def open_session(session: AsyncSession, token: str, hours: float) -> str | None:
    """A page session for a valid token: a new secret for the cookie, ending with the token."""
    now = datetime.now(UTC)
    row = (await session.execute(_valid(now).where(AccessToken.token_hash == digest(token))
                                 )).scalar_one_or_none()
    if row is None:
        return None
    parent = row.session_of or row.id
    cookie = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(AccessToken(token_hash=digest(cookie), role=row.role, venue_id=row.venue_id,
                            label=f"page session ({row.label})"[:80], session_of=parent,
                            expires_at=min(now + timedelta(hours=hours), row.expires_at)))
    await session.commit()
    return cookie


async def end_session(session: AsyncSession, cookie: str) -> None:
    """Logout: the session ends on the server, not only in the browser."""
    await session.execute(update(AccessToken).where(
        AccessToken.token_hash == digest(cookie), AccessToken.session_of.is_not(None),
        AccessToken.revoked_at.is_(None)).values(revoked_at=datetime.now(UTC)))
    await session.commit()


async def list_tokens(session: AsyncSession) -> list[AccessToken]:
    """Every token (page sessions aside), newest first; a token itself is shown once, when issued."""
    return list((await session.execute(
        select(AccessToken).where(AccessToken.session_of.is_(None), AccessToken.user_id.is_(None))
        .order_by(AccessToken.id.desc()))).scalars())


async def revoke_token(session: AsyncSession, token_id: int) -> bool:
    row = await session.get(AccessToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = datetime.now(UTC)
    await session.commit()
    return True


class TokenUnchecked(ServiceUnavailable):
    message = "Access tokens cannot be checked just now. Please try again in a moment."


class TokenChecker:
    """Looks tokens up in SQL, remembering answers briefly so pages and sockets stay cheap.

    While SQL does not answer, a token's last answer stands (Prometheus keeps scraping through a
    database outage, when its figures matter most); a token never seen gets a 503."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], ttl: float = 5.0) -> None:
        self.sessionmaker = sessionmaker
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lookups: dict[str, asyncio.Future] = {}  # token hash -> its lookup under way

    async def principal(self, token: str) -> Principal | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        token_hash = digest(token)
        cached = self._cache.get(token_hash)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        # One lookup per token at a time: when a popular token's answer expires, the requests
        # and sockets asking meanwhile wait for it rather than each sending SQL the same query
        # (with 10,000 screens on one token that herd starved the visits' writes).
        lookup = self._lookups.get(token_hash)
        if lookup is None:
            lookup = asyncio.ensure_future(self._refresh(token_hash, cached))
            self._lookups[token_hash] = lookup
            lookup.add_done_callback(lambda _: self._lookups.pop(token_hash, None))
        return await asyncio.shield(lookup)  # one caller leaving does not cancel the others'

    async def _refresh(self, token_hash: str, cached: tuple[float, Principal | None] | None
                       ) -> Principal | None:
        try:
            principal = await self._look_up(token_hash)
        except Exception as exc:
            log.warning("could not check an access token: %s", type(exc).__name__)
            if cached:
                return cached[1]
            raise TokenUnchecked() from exc
        now = time.monotonic()
        if len(self._cache) >= REMEMBER_AT_MOST:
            self._cache = {h: a for h, a in self._cache.items() if a[0] > now and a[1] is not None}
        self._cache[token_hash] = (now + self.ttl, principal)
        return principal

    def forget(self, token: str) -> None:
        """Drop this process's memory of a token's answer (after it was revoked here)."""
        self._cache.pop(digest(token), None)

    async def _look_up(self, token_hash: str) -> Principal | None:
        async with self.sessionmaker() as session:
            query = _valid(datetime.now(UTC)).where(AccessToken.token_hash == token_hash)
            row = (await session.execute(query)).scalar_one_or_none()
        return Principal(row.role, row.venue_id, row.label) if row else None
