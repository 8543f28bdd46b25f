"""People who sign in with a password. A password is kept as an argon2id hash (pwdlib); a
sign-in opens a page session (an access token of its own, for the cookie, ``PAGE_SESSION``
hours); removing a person or changing their role ends their sessions at once."""

import secrets
from datetime import UTC, datetime, timedelta

from pwdlib import PasswordHash
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from occupancy.accounts.models import ROLES, AccessToken, User
from occupancy.accounts.service import TOKEN_PREFIX, digest
from occupancy.errors import InvalidInput

_HASHER = PasswordHash.recommended()
# Checked when the name is unknown, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("not anyone's password")
MIN_PASSWORD = 10


def _check(role: str, venue_id: int | None, password: str | None = None) -> None:
    if role not in ROLES:
        raise InvalidInput(f"Role must be one of: {', '.join(ROLES)}.", field="role")
    if role in ("manager", "staff") and venue_id is None:
        raise InvalidInput(f"A {role} belongs to one venue: give the venue.", field="venue")
    if password is not None and len(password) < MIN_PASSWORD:
        raise InvalidInput(f"A password has at least {MIN_PASSWORD} characters.", field="password")


async def add_user(session: AsyncSession, username: str, password: str, role: str,
                   venue_id: int | None = None) -> User:
    _check(role, venue_id, password)
    if await _active(session, username) is not None:
        raise InvalidInput(f"There is already someone called {username}.", field="username")
    user = User(username=username, password_hash=_HASHER.hash(password), role=role,
                venue_id=venue_id)
    session.add(user)
    await session.commit()
    return user


async def remove_user(session: AsyncSession, username: str) -> bool:
    user = await _active(session, username)
    if user is None:
        return False
    user.removed_at = datetime.now(UTC)
    user.username = f"{user.username}#removed-{user.id}"  # the name may be given again
    await _end_sessions(session, user.id)
    await session.commit()
    return True


async def grant(session: AsyncSession, username: str, role: str, venue_id: int | None) -> User:
    _check(role, venue_id)
    user = await _active(session, username)
    if user is None:
        raise InvalidInput(f"There is nobody called {username}.", field="username")
    user.role, user.venue_id = role, venue_id
    await _end_sessions(session, user.id)  # sign in again with the new role
    await session.commit()
    return user


async def list_users(session: AsyncSession) -> list[User]:
    query = select(User).where(User.removed_at.is_(None)).order_by(User.username)
    return list((await session.execute(query)).scalars())


async def sign_in(session: AsyncSession, username: str, password: str, hours: float) -> str | None:
    """A page session's secret for the cookie, or None for a wrong name or password."""
    user = await _active(session, username)
    if not _HASHER.verify(password, user.password_hash if user else _DUMMY_HASH) or user is None:
        return None
    cookie = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(AccessToken(token_hash=digest(cookie), role=user.role, venue_id=user.venue_id,
                            label=f"page session of {user.username}"[:80], user_id=user.id,
                            expires_at=datetime.now(UTC) + timedelta(hours=hours)))
    await session.commit()
    return cookie


async def _active(session: AsyncSession, username: str) -> User | None:
    query = select(User).where(User.username == username, User.removed_at.is_(None))
    return (await session.execute(query)).scalar_one_or_none()


async def _end_sessions(session: AsyncSession, user_id: int) -> None:
    await session.execute(update(AccessToken).where(
        AccessToken.user_id == user_id, AccessToken.revoked_at.is_(None)
    ).values(revoked_at=datetime.now(UTC)))
