"""Rotating keys. The service's secret: a host given a new OCCUPANCY_SECRET_KEY with the old one
in OCCUPANCY_PREVIOUS_SECRET_KEYS still admits from the posters and door screens the old one
signed, signs new ones with the new key only, and tracing still finds the visits indexed under the
old key; without the old key listed, its posters are refused and change nothing. The health
office's key pair: visits sealed before and after a rotation open together with both private keys
(one per line), and with the new one alone the query is refused and audited."""

import time
from contextlib import asynccontextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from occupancy.privacy.sealing import WrongKey, new_key_pair
from occupancy.privacy.tracing import Question, audit_log
from occupancy.services import Services
from occupancy.venues import door, signing
from tests.conftest import OFFICE_PRIVATE_KEY, SECRET, app_client
from tests.visits.helpers import live_count, visitor

NEW_SECRET = "the-new-secret-after-rotation-0123456789"


@pytest.fixture
async def rotated(settings):
    """A second host on the same SQL and Redis, started after the rotation."""
    async with started(settings, secret_key=NEW_SECRET, previous_secret_keys=SECRET) as svc:
        yield svc


@asynccontextmanager
async def started(settings, **changes):
    svc = await Services.start(type(settings)(**settings.model_dump() | changes), background=False)
    try:
        yield svc
    finally:
        await svc.stop()


@pytest.fixture
async def rotated_client(rotated):
    async with app_client(rotated) as http:
        yield http


async def test_old_posters_and_door_codes_still_admit_and_new_ones_use_the_new_key(
        rotated_client, rotated, make_venue, issue_token, client):
    venue, old_poster = await make_venue(capacity=10)
    new_poster = signing.sign(NEW_SECRET, venue.code)
    by_old = await rotated_client.post(f"/api/venues/{old_poster}/check-ins",
                                       json=visitor(phone="0811 0000 0001", party_size=1))
    by_new = await rotated_client.post(f"/api/venues/{new_poster}/check-ins",
                                       json=visitor(phone="0811 0000 0002", party_size=1))
    assert by_old.status_code == 201 and by_new.status_code == 201

    # The poster the rotated host prints is signed with the new key only.
    manager = await issue_token("manager", venue.id)
    shown = await rotated_client.get(f"/api/venues/{venue.id}", headers=manager)
    assert shown.status_code == 200 and shown.json()["signed_code"] == new_poster

    # A door screen still served by a host with the old key, during the roll-out.
    await client.patch(f"/api/venues/{venue.id}", json={"door_code_required": True},
                       headers=manager)
    old_screen = door.current(SECRET, venue.id, time.time())
    by_old_screen = await rotated_client.post(
        f"/api/venues/{new_poster}/check-ins",
        json=visitor(phone="0811 0000 0003", party_size=1) | {"door_code": old_screen})
    assert by_old_screen.status_code == 201
    assert await live_count(rotated, venue.id) == 3


async def test_without_the_old_key_listed_its_posters_are_refused_and_change_nothing(
        settings, make_venue):
    venue, old_poster = await make_venue(capacity=10)
    async with started(settings, secret_key=NEW_SECRET, previous_secret_keys="") as svc:
        async with app_client(svc) as http:
            answer = await http.post(f"/api/venues/{old_poster}/check-ins", json=visitor())
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "forged_venue_code"
        assert await live_count(svc, venue.id) == 0


async def test_tracing_finds_a_phone_visits_from_before_and_after_the_rotation(
        client, rotated_client, rotated, make_venue):
    venue, poster = await make_venue(capacity=10)
    phone = "0811 2222 3333"
    before = await client.post(f"/api/venues/{poster}/check-ins", json=visitor(phone=phone))
    assert before.status_code == 201
    out = await client.post("/api/check-outs", json={"ticket": before.json()["ticket"]})
    assert out.status_code in (200, 201), out.text
    after = await rotated_client.post(f"/api/venues/{poster}/check-ins", json=visitor(phone=phone))
    assert after.status_code == 201

    today = datetime.now(ZoneInfo(rotated.settings.timezone)).date()
    trace = await rotated.tracer.trace(Question(today, today, phone=phone), OFFICE_PRIVATE_KEY,
                                       asked_by="official:dinkes")
    assert sorted(case.visit_id for case in trace.cases) == sorted(
        [before.json()["visit_id"], after.json()["visit_id"]])


async def test_tracing_across_a_health_office_key_rotation_takes_both_private_keys(
        settings, services, client, make_venue):
    venue, poster = await make_venue(capacity=10)
    sealed_to_old = await client.post(f"/api/venues/{poster}/check-ins",
                                      json=visitor(name="Before Rotation", phone="0811 5555 0001"))
    new_public, new_private = new_key_pair()
    async with started(settings, health_office_public_key=new_public) as rotated:
        async with app_client(rotated) as http:
            sealed_to_new = await http.post(f"/api/venues/{poster}/check-ins",
                                            json=visitor(name="After Rotation",
                                                         phone="0811 5555 0002"))
        today = datetime.now(ZoneInfo(settings.timezone)).date()
        question = Question(today, today, ticket=sealed_to_new.json()["ticket"])

        with pytest.raises(WrongKey, match="sealed to health office key"):
            await rotated.tracer.trace(question, new_private, asked_by="official:dinkes")
        both = await rotated.tracer.trace(question, f"{new_private}\n{OFFICE_PRIVATE_KEY}\n",
                                          asked_by="official:dinkes")

    assert sealed_to_old.status_code == 201 and sealed_to_new.status_code == 201
    assert [case.person.name for case in both.cases] == ["After Rotation"]
    assert [contact.visit.person.name for contact in both.contacts] == ["Before Rotation"]
    assert [r.outcome for r in await audit_log(services.sessionmaker)] == ["answered", "wrong_key"]
