"""Contact tracing against real SQL: a case's visits and the people whose stays overlapped them,
opened with the health office's private key; a wrong key fails clearly; every query is in the
append-only audit log."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from occupancy.privacy.blind_index import index_key
from occupancy.privacy.models import TraceAudit
from occupancy.privacy.sealing import WrongKey, new_key_pair
from occupancy.privacy.tracing import Question, Tracer, audit_log
from occupancy.visits.models import Visit
from tests.conftest import OFFICE_PRIVATE_KEY
from tests.visits.helpers import visitor


@pytest.fixture
def tracer(services):
    return Tracer(services.sessionmaker, (index_key(services.settings.secret_key),),
                  ZoneInfo(services.settings.timezone))


def today(services):
    return datetime.now(ZoneInfo(services.settings.timezone)).date()


async def check_in(client, code, name, phone) -> dict:
    response = await client.post(f"/api/venues/{code}/check-ins",
                                 json=visitor(name=name, phone=phone, email=None, party_size=1))
    assert response.status_code == 201
    return response.json()


async def test_a_case_by_phone_reveals_who_overlapped_at_the_same_venue(client, services,
                                                                       make_venue, tracer):
    mall, mall_code = await make_venue(capacity=20)
    _, park_code = await make_venue(capacity=20)
    case = await check_in(client, mall_code, "Case Person", "0811 1111 1111")
    await check_in(client, mall_code, "Contact One", "0822 2222 2222")
    await check_in(client, park_code, "Elsewhere Person", "0833 3333 3333")  # another venue
    earlier = await check_in(client, mall_code, "Left Before", "0844 4444 4444")
    long_ago = datetime.now(UTC) - timedelta(hours=3)
    async with services.sessionmaker() as session:  # this one left before the case came
        await session.execute(update(Visit).where(Visit.id == earlier["visit_id"]).values(
            checked_in_at=long_ago, checked_out_at=long_ago + timedelta(hours=1)))
        await session.commit()

    trace = await tracer.trace(Question(today(services), today(services), phone="+62 811-1111-1111"),
                               OFFICE_PRIVATE_KEY, asked_by="official:dinkes")

    assert [c.visit_id for c in trace.cases] == [case["visit_id"]]
    assert trace.cases[0].person.name == "Case Person" and trace.cases[0].venue_id == mall.id
    assert [(c.visit.person.name, c.visit.person.phone) for c in trace.contacts] == [
        ("Contact One", "082222222222")]
    assert trace.contacts[0].overlap_minutes >= 1
    [record] = await audit_log(services.sessionmaker)
    assert (record.asked_by, record.cases, record.revealed, record.outcome) == (
        "official:dinkes", 1, 2, "answered")
    assert "0811" not in record.question and "Case" not in record.question  # no personal data


async def test_a_case_by_ticket_and_an_unknown_phone(client, services, make_venue, tracer):
    _, code = await make_venue(capacity=20)
    case = await check_in(client, code, "Case Person", "0811 1111 1111")
    await check_in(client, code, "Contact One", "0822 2222 2222")

    by_ticket = await tracer.trace(Question(today(services), today(services), ticket=case["ticket"]),
                                   OFFICE_PRIVATE_KEY, asked_by="official:dinkes")
    nobody = await tracer.trace(Question(today(services), today(services), phone="0899 0000 0000"),
                                OFFICE_PRIVATE_KEY, asked_by="official:dinkes")

    assert [c.visit.person.name for c in by_ticket.contacts] == ["Contact One"]
    assert nobody.cases == [] and nobody.contacts == []
    assert [r.outcome for r in await audit_log(services.sessionmaker)] == ["not_found", "answered"]


async def test_a_wrong_key_fails_clearly_and_is_audited(client, services, make_venue, tracer):
    _, code = await make_venue(capacity=20)
    await check_in(client, code, "Case Person", "0811 1111 1111")
    _, other_private = new_key_pair()

    with pytest.raises(WrongKey, match="does not open these visits"):
        await tracer.trace(Question(today(services), today(services), phone="0811 1111 1111"),
                           other_private, asked_by="official:dinkes")

    [record] = await audit_log(services.sessionmaker)
    assert (record.outcome, record.revealed) == ("wrong_key", 0)


async def test_the_audit_log_cannot_be_edited(client, services, make_venue, tracer):
    await tracer.trace(Question(today(services), today(services), phone="0811 1111 1111"),
                       OFFICE_PRIVATE_KEY, asked_by="official:dinkes")
    for statement in ("UPDATE trace_audit SET revealed = 0", "DELETE FROM trace_audit"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with services.sessionmaker() as session:
                await session.execute(text(statement))
                await session.commit()
    async with services.sessionmaker() as session:
        assert len((await session.execute(select(TraceAudit))).all()) == 1


async def test_officials_trace_through_the_api_as_json_and_csv(client, services, make_venue,
                                                               issue_token):
    venue, code = await make_venue(capacity=20)
    await check_in(client, code, "Case Person", "0811 1111 1111")
    await check_in(client, code, "=HYPERLINK(\"http://x\")", "0822 2222 2222")  # a formula name
    official = await issue_token("official")
    body = {"phone": "0811 1111 1111", "start": str(today(services)), "end": str(today(services)),
            "private_key": OFFICE_PRIVATE_KEY}

    answer = await client.post("/api/city/tracing", json=body, headers=official)
    as_csv = await client.post("/api/city/tracing.csv", json=body, headers=official)
    wrong = await client.post("/api/city/tracing", headers=official,
                              json={**body, "private_key": new_key_pair()[1]})
    operator = await client.post("/api/city/tracing", json=body,
                                 headers=await issue_token("operator"))
    audit = await client.get("/api/city/tracing/audit", headers=await issue_token("operator"))

    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    found = answer.json()
    assert [c["person"]["name"] for c in found["cases"]] == ["Case Person"]
    assert [c["person"]["phone"] for c in found["contacts"]] == ["082222222222"]
    assert found["people_revealed"] == 2
    assert as_csv.status_code == 200 and "'=HYPERLINK" in as_csv.text
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "wrong_key"
    assert operator.status_code == 403  # operators run the service; they do not trace people
    assert [r["outcome"] for r in audit.json()] == ["wrong_key", "answered", "answered"]
    assert all(r["asked_by"].startswith("official:") for r in audit.json())


async def test_a_bad_question_is_refused_and_changes_nothing(client, services, issue_token):
    official = await issue_token("official")
    day = str(today(services))
    for body in ({"start": day, "end": day, "private_key": OFFICE_PRIVATE_KEY},  # no case given
                 {"phone": "12", "start": day, "end": day, "private_key": OFFICE_PRIVATE_KEY},
                 {"phone": "0811 1111 1111", "start": day, "end": "2020-01-01",
                  "private_key": OFFICE_PRIVATE_KEY},
                 {"phone": "0811 1111 1111", "start": day, "end": day, "private_key": "nope"}):
        answer = await client.post("/api/city/tracing", json=body, headers=official)
        assert answer.status_code == 422, body
        assert answer.json()["error"]["code"] in ("invalid_input", "wrong_key")
    assert [r.outcome for r in await audit_log(services.sessionmaker)] == []


async def test_the_audit_log_is_one_hash_chain_and_an_edit_behind_the_triggers_shows(
        client, services, make_venue, tracer, issue_token):
    import asyncio

    venue, code = await make_venue(capacity=20)
    await check_in(client, code, "Case Person", "0811 1111 1111")
    day = today(services)
    # Queries at the same moment each link to the one before: one chain, no fork.
    await asyncio.gather(*[
        tracer.trace(Question(day, day, phone="0811 1111 1111"), OFFICE_PRIVATE_KEY,
                     asked_by=f"official:{n}") for n in range(8)])
    official = await issue_token("official")
    chain = (await client.get("/api/city/tracing/audit/chain", headers=official)).json()
    assert chain["intact"] and chain["records"] == 8 and chain["broken_at"] is None
    assert (await client.get("/api/city/tracing/audit/chain",
                             headers=await issue_token("manager", venue.id))).status_code == 403

    # The database's owner lifts the trigger and hides how much a query revealed.
    async with services.sessionmaker() as session:
        first = (await session.execute(select(TraceAudit).order_by(TraceAudit.id))).scalars().first()
        if session.bind.dialect.name == "sqlite":
            await session.execute(text("DROP TRIGGER trace_audit_no_update"))
        else:
            await session.execute(text(
                "ALTER TABLE trace_audit DISABLE TRIGGER trace_audit_append_only"))
        await session.execute(update(TraceAudit).where(TraceAudit.id == first.id).values(revealed=0))
        await session.commit()
    chain = (await client.get("/api/city/tracing/audit/chain", headers=official)).json()
    assert not chain["intact"] and chain["broken_at"] == first.id
