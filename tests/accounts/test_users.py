"""People who sign in with a password: argon2 hashes only, a page session per sign-in, slowed
after failures per account, ended by removal or a change of role."""

import pytest
from sqlalchemy import select

from occupancy.accounts import users
from occupancy.accounts.models import User
from occupancy.errors import InvalidInput
from tests.redis_kinds import redis_kind  # noqa: F401 (runs the module on a cluster too)

PASSWORD = "correct horse battery"


async def test_a_person_signs_in_with_a_password_and_lands_on_their_page(client, services,
                                                                         make_venue):
    venue, _ = await make_venue()
    async with services.sessionmaker() as session:
        await users.add_user(session, "sari", PASSWORD, "manager", venue.id)
        stored = (await session.execute(select(User.password_hash))).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored

    wrong = await client.post("/login", data={"username": "sari", "password": "not it at all"})
    right = await client.post("/login", data={"username": "sari", "password": PASSWORD})

    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    assert right.status_code == 303 and right.headers["location"] == f"/manage/venues/{venue.id}"
    cookie = right.cookies["occupancy_token"]
    page = await client.get(f"/manage/venues/{venue.id}", cookies={"occupancy_token": cookie})
    assert page.status_code == 200


async def test_removing_a_person_or_changing_their_role_ends_their_sessions(client, services,
                                                                             make_venue):
    venue, _ = await make_venue()
    async with services.sessionmaker() as session:
        await users.add_user(session, "budi", PASSWORD, "official")
    first = (await client.post("/login", data={"username": "budi", "password": PASSWORD}))
    cookie = first.cookies["occupancy_token"]
    assert (await services.tokens.principal(cookie)).role == "official"

    async with services.sessionmaker() as session:
        await users.grant(session, "budi", "staff", venue.id)
    services.tokens.forget(cookie)
    assert await services.tokens.principal(cookie) is None  # signs in again, as door staff
    second = await client.post("/login", data={"username": "budi", "password": PASSWORD})
    assert (await services.tokens.principal(second.cookies["occupancy_token"])).role == "staff"

    async with services.sessionmaker() as session:
        assert await users.remove_user(session, "budi")
        assert await users.list_users(session) == []
    services.tokens.forget(second.cookies["occupancy_token"])
    assert await services.tokens.principal(second.cookies["occupancy_token"]) is None
    gone = await client.post("/login", data={"username": "budi", "password": PASSWORD})
    assert gone.status_code == 401


async def test_guessing_one_account_is_slowed_from_any_address(client, services):
    async with services.sessionmaker() as session:
        await users.add_user(session, "ani", PASSWORD, "official")
    for _ in range(10):
        assert (await client.post("/login", data={"username": "ani", "password": "guess-guess"},
                                  )).status_code == 401
    refused = await client.post("/login", data={"username": "ani", "password": PASSWORD})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0


async def test_short_passwords_and_unknown_roles_are_refused(services):
    async with services.sessionmaker() as session:
        with pytest.raises(InvalidInput, match="at least 10 characters"):
            await users.add_user(session, "x", "short", "official")
        with pytest.raises(InvalidInput, match="Role must be one of"):
            await users.add_user(session, "x", PASSWORD, "emperor")
        assert await users.list_users(session) == []
