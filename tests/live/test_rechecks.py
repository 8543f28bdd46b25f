"""The process-wide recheck of open sockets' tokens (occupancy.live.rechecks), on real SQL."""

from sqlalchemy import select

from occupancy.accounts.models import AccessToken
from occupancy.accounts.permissions import watches
from occupancy.accounts.service import digest, revoke_token
from occupancy.live.rechecks import Rechecks


def token_of(headers: dict) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def test_a_revoked_token_revokes_every_socket_it_opened_and_no_other(services, make_venue,
                                                                          issue_token):
    venue, _ = await make_venue()
    other, _ = await make_venue()
    revoked_token = token_of(await issue_token("manager", venue.id))
    kept_token = token_of(await issue_token("official"))
    rechecks = Rechecks(services.tokens.principal)
    on_venue = lambda who: watches(who, venue.id)  # noqa: E731
    with (rechecks.watch(revoked_token, on_venue) as first,
          rechecks.watch(revoked_token, on_venue) as second,
          rechecks.watch(kept_token, on_venue) as official,
          rechecks.watch(kept_token, lambda who: watches(who, other.id)) as official_elsewhere):
        assert rechecks.watching() == 4
        await rechecks.check_all()
        assert not any(f.done() for f in (first, second, official, official_elsewhere))

        async with services.sessionmaker() as session:
            row = (await session.execute(select(AccessToken).where(
                AccessToken.token_hash == digest(revoked_token)))).scalar_one()
            assert await revoke_token(session, row.id)
        services.tokens.forget(revoked_token)  # as the process that revoked it does
        await rechecks.check_all()
        assert first.done() and second.done()
        assert not official.done() and not official_elsewhere.done()
    assert rechecks.watching() == 0


async def test_a_manager_socket_on_another_venue_is_revoked_at_the_first_check(services, make_venue,
                                                                               issue_token):
    venue, _ = await make_venue()
    other, _ = await make_venue()
    manager = token_of(await issue_token("manager", venue.id))
    rechecks = Rechecks(services.tokens.principal)
    with rechecks.watch(manager, lambda who: watches(who, other.id)) as elsewhere:
        await rechecks.check_all()
        assert elsewhere.done()


async def test_a_socket_joining_a_token_already_checked_is_checked_too(services, make_venue,
                                                                       issue_token):
    """A token's sockets are walked again only when something changed: a new socket is a change."""
    venue, _ = await make_venue()
    other, _ = await make_venue()
    manager = token_of(await issue_token("manager", venue.id))
    rechecks = Rechecks(services.tokens.principal)
    with rechecks.watch(manager, lambda who: watches(who, venue.id)) as own:
        await rechecks.check_all()
        await rechecks.check_all()  # the same answer: nothing to walk
        with rechecks.watch(manager, lambda who: watches(who, other.id)) as elsewhere:
            await rechecks.check_all()
            assert elsewhere.done() and not own.done()
