"""Every failure is a clear answer: Redis or SQL down is a 503 in JSON with Retry-After on every
kind of route (a WebSocket closes with 1013), a bug is a 500 in JSON, an id out of range a 4xx."""

import asyncio
import os
import signal

import httpx
import pytest
import redis.exceptions
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from occupancy import migrate
from occupancy.app import create_app
from occupancy.embedded_redis import EmbeddedRedis
from occupancy.services import Services
from occupancy.settings import Settings
from occupancy.venues import service as venue_service
from occupancy.venues import signing

from .conftest import POSTGRES_ADMIN_URL, SECRET, LiveServer
from .visits.helpers import visitor

BIG_IDS = [2**31, 2**63 - 1, 2**63, 2**64, 10**30, 0, -1]


def assert_unavailable(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path}"
    assert response.status_code == 503, f"{where}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/json"), where
    error = response.json()["error"]
    assert error["code"] in ("service_unavailable", "check_out_pending", "rebuilding"), where
    assert len(error["message"]) > 20 and error["message"].endswith("."), where
    assert int(response.headers["retry-after"]) >= 1, where
    assert error["retry_after_seconds"] == int(response.headers["retry-after"]), where


def assert_json_4xx(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url}"
    assert 400 <= response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
    error = response.json()["error"]
    assert error["code"] and len(error["message"]) > 5, where


async def _venue_and_token(svc: Services):
    async with svc.sessionmaker() as session:
        venue = await venue_service.create_venue(session, code="grand-mall", name="Grand Mall",
                                                 capacity=50)
        await venue_service.push_config(svc.redis, venue, new=True)
    from occupancy.accounts.service import issue_token

    async with svc.sessionmaker() as session:
        token = await issue_token(session, "operator", None)
    return venue, signing.sign(SECRET, venue.code), token


@pytest.fixture
def doomed_redis():
    """A Redis of this test's own, for the test to kill."""
    server = EmbeddedRedis().start()
    yield server
    server.stop()


async def test_with_redis_killed_every_kind_of_route_answers_503_in_json(sqlite_database_url,
                                                                         doomed_redis):
    await asyncio.to_thread(migrate.upgrade, sqlite_database_url)
    settings = Settings(database_url=sqlite_database_url, redis_url=doomed_redis.url,
                        secret_key=SECRET, public_url="http://testserver",
                        auto_checkout_interval_seconds=3600, rebuild_grace_seconds=0)
    svc = await Services.start(settings, background=False)
    server = None
    try:
        venue, code, token = await _venue_and_token(svc)
        server = LiveServer(settings, workers=1).start()
        operator = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            checked_in = await http.post(f"/api/venues/{code}/check-ins", json=visitor())
            assert checked_in.status_code == 201, checked_in.text
            ticket = checked_in.json()["ticket"]
            assert (await http.get(f"/api/venues/{venue.id}/today", headers=operator)).status_code == 200
            ws_url = server.url.replace("http://", "ws://")
            # A venue id out of range, on a socket: refused at the handshake, not dropped.
            with pytest.raises(Exception) as refused:
                async with connect(f"{ws_url}/ws/venues/{2**63}",
                                   additional_headers={"Authorization": f"Bearer {token}"}) as ws:
                    await asyncio.wait_for(ws.recv(), 30)
            assert "HTTP 403" in str(refused.value), repr(refused.value)

            os.kill(doomed_redis.process.pid, signal.SIGKILL)
            doomed_redis.process.wait()

            needs_redis = [
                http.get(f"/api/venues/{code}/occupancy"),
                http.post(f"/api/venues/{code}/check-ins", json=visitor(name="Ani")),  # hot
                http.post("/api/check-outs", json={"ticket": ticket}),  # hot
                http.post(f"/api/venues/{venue.id}/screenings", headers=operator,
                          json={"ticket": ticket, "temperature": 36.6}),
                http.post(f"/api/venues/{venue.id}/walk-ins", json={"delta": 1}, headers=operator),
                http.get(f"/api/venues/{venue.id}/today", headers=operator),
                http.patch(f"/api/venues/{venue.id}", json={"capacity": 60}, headers=operator),
                http.get("/metrics", headers=operator),
            ]
            for response in await asyncio.gather(*needs_redis):
                assert_unavailable(response)
            # What does not need Redis still answers; nothing is ever a plain-text 500.
            assert (await http.get("/healthz")).status_code == 200
            page = await http.get(f"/v/{code}")
            assert page.status_code == 200 and "Grand Mall" in page.text

            async with connect(f"{ws_url}/ws/display/{code}") as ws:
                with pytest.raises(ConnectionClosed):
                    while True:
                        await asyncio.wait_for(ws.recv(), 30)
            assert ws.close_code == 1013, ws.close_reason
    finally:
        if server is not None:
            server.stop()
            print(server.errors())
        await svc.stop()


async def _lose_the_database(services: Services, tmp_path) -> None:
    """SQL stops answering: PostgreSQL's database is dropped (its connections terminated), or
    the SQLite file's folder disappears (no new connection can open it)."""
    if services.settings.database_url.startswith("sqlite"):
        tmp_path.rename(tmp_path.with_name(tmp_path.name + "-gone"))
    else:
        name = services.settings.database_url.rsplit("/", 1)[1]
        admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()
    await services.engine.dispose()
    services.venues.invalidate()


async def test_with_sql_gone_routes_and_pages_answer_503_in_json(client, services, make_venue,
                                                                 issue_token, tmp_path):
    venue, code = await make_venue()
    operator = await issue_token("operator")
    assert (await client.get(f"/api/venues/{venue.id}", headers=operator)).status_code == 200
    never_seen = {"occupancy_token": "occ_" + "x" * 43}

    await _lose_the_database(services, tmp_path)

    cookie = {"occupancy_token": operator["Authorization"].removeprefix("Bearer ")}
    responses = await asyncio.gather(
        client.get(f"/api/venues/{venue.id}", headers=operator),
        client.get(f"/api/venues/{venue.id}/visits.csv", headers=operator),
        client.get("/api/city/history", headers=operator),
        client.get(f"/api/venues/{code}/occupancy"),
        client.post(f"/api/venues/{code}/check-ins", json=visitor()),  # hot
        client.get(f"/manage/venues/{venue.id}", cookies=cookie),  # pages
        client.get(f"/door/{code}", cookies=never_seen),
        client.get(f"/v/{code}"),
    )
    for response in responses:
        assert_unavailable(response)


def _app_raising(services, exc: Exception):
    async def broken(*args, **kwargs):
        raise exc

    services.capacity.occupancy = broken
    services.visits.check_in = broken
    app = create_app(services.settings)
    app.state.services = services
    # As a server would: the exception Starlette re-raises after answering is not the client's.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                             base_url="http://testserver")


@pytest.mark.parametrize("exc", [
    redis.exceptions.ConnectionError("Connection refused"),
    redis.exceptions.TimeoutError("Timeout reading from socket"),
    redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
    TimeoutError(),
    ConnectionRefusedError(111, "Connect call failed"),
], ids=lambda exc: type(exc).__name__)
async def test_a_dependency_error_anywhere_is_a_503_in_json(services, make_venue, exc, caplog):
    _, code = await make_venue()
    async with _app_raising(services, exc) as http:
        assert_unavailable(await http.get(f"/api/venues/{code}/occupancy"))
        assert_unavailable(await http.post(f"/api/venues/{code}/check-ins", json=visitor()))
    assert "a dependency did not answer" in caplog.text
    assert "Traceback" not in caplog.text  # an outage is one line per request, not a traceback


async def test_a_bug_anywhere_is_a_500_in_json_and_logged_with_its_traceback(services, make_venue,
                                                                             caplog):
    _, code = await make_venue()
    async with _app_raising(services, ZeroDivisionError("a bug")) as http:
        for response in (await http.get(f"/api/venues/{code}/occupancy"),
                         await http.post(f"/api/venues/{code}/check-ins", json=visitor())):
            assert response.status_code == 500
            assert response.headers["content-type"] == "application/json"
            assert response.json()["error"]["code"] == "internal_error"
            assert "try again" in response.json()["error"]["message"]
    assert "GET /api/venues/" in caplog.text and "ZeroDivisionError: a bug" in caplog.text


async def test_ids_out_of_range_are_refused_before_any_query(client, services, make_venue,
                                                             issue_token):
    venue, _ = await make_venue()
    operator = await issue_token("operator")
    for venue_id in BIG_IDS:
        for method, path, body in [
            ("GET", f"/api/venues/{venue_id}", None),
            ("PATCH", f"/api/venues/{venue_id}", {"capacity": 10}),
            ("GET", f"/api/venues/{venue_id}/poster.png", None),
            ("POST", f"/api/venues/{venue_id}/walk-ins", {"delta": 1}),
            ("GET", f"/api/venues/{venue_id}/today", None),
            ("GET", f"/api/venues/{venue_id}/visits.csv", None),
            ("POST", f"/api/venues/{venue_id}/visits/by-code/3F9A-07C2/screening", {"temperature": 36.6}),
            ("POST", f"/api/venues/{venue_id}/visits/by-code/3F9A-07C2/check-out", None),
            ("GET", f"/manage/venues/{venue_id}", None),
        ]:
            response = await client.request(method, path, json=body, headers=operator)
            assert_json_4xx(response)
            if venue_id > 0:
                assert response.json()["error"]["code"] == "invalid_input", path
    # A ticket names its venue: one beyond any venue's id is not a ticket.
    for venue_id in (2**31, 9_999_999_999):
        ticket = f"{venue_id}.{'A' * 32}"
        for path in (f"/api/tickets/{ticket}/screening", f"/api/tickets/{ticket}/check-out"):
            response = await client.post(path, json={"temperature": 36.6}, headers=operator)
            assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_ticket"
    for query in ("date=" + "2026-12-01" * 100, "from=" + "9" * 1000, "by=" + "hour" * 100):
        path = f"/api/venues/{venue.id}/visits.csv" if query.startswith("date") else "/api/city/history"
        response = await client.get(f"{path}?{query}", headers=operator)
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_input"
