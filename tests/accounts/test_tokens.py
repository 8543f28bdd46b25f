"""Access tokens expire, are listed (never shown again) and revoked; an expired or revoked token
is refused."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from occupancy.accounts.models import AccessToken
from occupancy.accounts.service import TokenChecker, issue_token, list_tokens, revoke_token


async def test_a_token_expires_after_its_days(services):
    checker = TokenChecker(services.sessionmaker, ttl=0)
    async with services.sessionmaker() as session:
        token = await issue_token(session, "official", label="dinkes", days=30)
        [row] = await list_tokens(session)
    assert row.label == "dinkes" and row.role == "official"
    assert timedelta(days=29) < row.expires_at - datetime.now(UTC) <= timedelta(days=30)
    assert (await checker.principal(token)).role == "official"

    async with services.sessionmaker() as session:
        await session.execute(update(AccessToken).values(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        await session.commit()
    assert await checker.principal(token) is None


async def test_a_revoked_token_is_refused_by_the_api(client, services, make_venue):
    venue, _ = await make_venue()
    async with services.sessionmaker() as session:
        token = await issue_token(session, "manager", venue.id)
        [row] = await list_tokens(session)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get(f"/api/venues/{venue.id}", headers=headers)).status_code == 200
    async with services.sessionmaker() as session:
        assert await revoke_token(session, row.id)
        assert not await revoke_token(session, row.id)  # once
    services.tokens._cache.clear()  # this process's 5 s memory of the answer
    assert (await client.get(f"/api/venues/{venue.id}", headers=headers)).status_code == 401


async def test_many_askers_of_one_expired_answer_share_one_lookup(services):
    """A popular token's answer expiring (thousands of screens on one token) sends SQL one query,
    not one per request or socket asking meanwhile."""
    import asyncio

    from sqlalchemy import event

    checker = TokenChecker(services.sessionmaker, ttl=0)  # every answer expired at once
    async with services.sessionmaker() as session:
        token = await issue_token(session, "official", label="wall of screens")
    lookups = []

    def count(conn, cursor, statement, *args) -> None:
        if "access_tokens" in statement and statement.lstrip().upper().startswith("SELECT"):
            lookups.append(statement)

    event.listen(services.engine.sync_engine, "before_cursor_execute", count)
    try:
        answers = await asyncio.gather(*(checker.principal(token) for _ in range(500)))
    finally:
        event.remove(services.engine.sync_engine, "before_cursor_execute", count)
    assert {a.role for a in answers} == {"official"}
    assert len(lookups) == 1
