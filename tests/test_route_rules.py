"""Every route and socket declares who may call it, and the declaration holds against the app.

A route is born with a rule (``accounts.permissions``: ``Public``, ``VenueStaff``, ...) or this
test fails; every route that is not open refuses a caller without a token, and one whose token
does not allow it.
"""

import re

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from starlette.routing import Mount, Router

from occupancy.accounts.permissions import Public, VenueStaff, rule_of
from occupancy.app import create_app
from occupancy.hot_routes import HOT_PATHS, Unplannable, plan
from occupancy.settings import Settings
from occupancy.visits import endpoints


def route_rules(routes, prefix: str = "") -> list[tuple[str, str, str | None]]:
    """(methods or "WS", path, declared rule or None) of every route, mounted ones included."""
    found = []
    for context in iter_route_contexts(routes):
        route, path = context.original_route, prefix + (context.path or "")
        if isinstance(route, Mount) and rule_of(route) is None and route.routes:
            found.extend(route_rules(route.routes, path))
            continue
        kind = "WS" if isinstance(route, APIWebSocketRoute) else ",".join(
            sorted(getattr(route, "methods", None) or {"*"}))
        found.append((kind, path, rule_of(route)))
    return found


def undeclared(app) -> list[tuple[str, str]]:
    return [(kind, path) for kind, path, rule in route_rules(app.routes) if rule is None]


@pytest.fixture
def empty_database_url(sqlite_database_url):
    """Who may call a route does not depend on the database."""
    return sqlite_database_url


@pytest.fixture(scope="module")
def app():
    return create_app(Settings(secret_key="test-secret"))


def test_every_route_and_socket_declares_who_may_call_it(app):
    rules = route_rules(app.routes)
    assert undeclared(app) == []
    # The walk reaches the included routers, the sockets and the mounted static files.
    assert ("POST", "/api/venues/{code}/check-ins", "open") in rules
    assert ("PATCH", "/api/venues/{venue_id}", "venue manager") in rules
    assert ("WS", "/ws/city", "official (socket)") in rules
    assert ("*", "/static", "open") in rules


def test_the_walk_reports_a_route_born_without_a_rule():
    app = create_app(Settings(secret_key="test-secret"))
    before = set(undeclared(app))
    router = APIRouter(prefix="/api/extra")

    @router.get("/undeclared")
    async def undeclared_route() -> dict:
        return {}

    @router.get("/declared")
    async def declared_route(_: Public) -> dict:
        return {}

    @app.websocket("/ws/undeclared")
    async def undeclared_socket(websocket) -> None:
        await websocket.close()

    async def reads_the_request(request: Request) -> None:  # a dependency that is no rule
        return None

    @app.get("/helper-only", dependencies=[Depends(reads_the_request)])
    async def helper_only() -> dict:
        return {}

    app.include_router(router)
    inner = Router()
    inner.add_route("/raw", lambda request: None)
    app.mount("/mounted", inner)

    assert sorted(set(undeclared(app)) - before) == [
        ("GET", "/api/extra/undeclared"), ("GET", "/helper-only"),
        ("GET,HEAD", "/mounted/raw"), ("WS", "/ws/undeclared"),
    ]


def test_the_hot_routes_call_what_their_routes_declare_and_refuse_what_they_cannot():
    hot = {route.path: route for route in endpoints.router.routes if route.path in HOT_PATHS}
    calls = {path: [call.__name__ for call, _ in plan(route)] for path, route in hot.items()}
    assert calls == {
        "/api/venues/{code}/check-ins": ["get_services", "public", "check_in"],
        "/api/check-outs": ["get_services", "caller", "check_out_visit"],
        "/api/tickets/{ticket}/check-out": ["get_services", "caller", "check_out"],
    }
    app = FastAPI()

    async def by_query(limit: int) -> int:
        return limit

    def in_a_thread() -> None:
        return None

    @app.post("/query/{code}")
    async def with_query(code: str, _: Public, limit: int = Depends(by_query)) -> None: ...

    @app.post("/thread/{code}")
    async def with_sync(code: str, _: None = Depends(in_a_thread)) -> None: ...

    @app.post("/venue/{venue_id}")
    async def with_int_path(_: VenueStaff) -> None: ...

    refusals = {"/query/{code}": "only the request, path parameters and dependencies",
                "/thread/{code}": "must be an async def",
                "/venue/{venue_id}": "path parameter venue_id must be a plain str"}
    for route in app.routes:
        if (path := getattr(route, "path", "")) in refusals:
            with pytest.raises(Unplannable, match=refusals[path]):
                plan(route)


def _fill(path: str, venue_id: int, signed_code: str) -> str:
    values = {"venue_id": str(venue_id), "code": signed_code, "signed_code": signed_code,
              "ticket": f"{venue_id}.{'A' * 32}",
              "short_code": "3F9A-07C2", "fmt": "png"}
    return re.sub(r"{(\w+)}", lambda m: values[m.group(1)], path)


def _guarded(app) -> list[tuple[str, str]]:
    return [(kind, path) for kind, path, rule in route_rules(app.routes)
            if rule is None or not rule.startswith("open")]


async def test_every_guarded_route_refuses_without_a_token_or_with_one_that_does_not_allow(
    client, services, make_venue, issue_token
):
    venue, signed_code = await make_venue()
    other, _ = await make_venue()
    staff_elsewhere = await issue_token("staff", other.id)
    app = client._transport.app
    guarded = _guarded(app)
    assert len(guarded) >= 15
    for kind, template in guarded:
        path = _fill(template, venue.id, signed_code)
        if kind == "WS":
            continue
        for method in kind.split(","):
            if method == "HEAD":
                continue
            anonymous = await client.request(method, path, json={})
            if path.startswith("/api/") or path == "/metrics":
                assert anonymous.status_code == 401, (method, path, anonymous.text)
                assert anonymous.json()["error"]["code"] == "unauthorized"
                assert anonymous.headers["www-authenticate"] == "Bearer"
                refused = await client.request(method, path, json={}, headers=staff_elsewhere)
                assert refused.status_code == 403, (method, path, refused.text)
                assert refused.json()["error"]["code"] == "forbidden"
            else:  # a staff page: the login page first, the forbidden page for a wrong token
                assert anonymous.status_code == 303, (method, path)
                assert anonymous.headers["location"].startswith("/login?next=")
                token = staff_elsewhere["Authorization"].removeprefix("Bearer ")
                refused = await client.request(method, path,
                                               headers={"Cookie": f"occupancy_token={token}"})
                assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]

    sockets = [template for kind, template in guarded if kind == "WS"]
    assert sockets == ["/ws/venues/{venue_id}", "/ws/city"]
    token = staff_elsewhere["Authorization"].removeprefix("Bearer ")
    for template in sockets:
        path = _fill(template, venue.id, signed_code)
        assert await socket_answer(app, path) == ["websocket.accept", ("websocket.close", 4401)]
        assert await socket_answer(app, path, token) == [
            "websocket.accept", ("websocket.close", 4403)]


async def socket_answer(app, path: str, token: str = "") -> list:
    """What the app sends to a WebSocket client that connects to ``path`` (with ``token`` in a
    bearer header) and waits."""
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    sent, inbox = [], [{"type": "websocket.connect"}]

    async def receive():
        return inbox.pop(0) if inbox else {"type": "websocket.disconnect", "code": 1000}

    async def send(message):
        kind = message["type"]
        sent.append((kind, message.get("code")) if kind == "websocket.close" else kind)

    scope = {"type": "websocket", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": b"", "headers": headers, "scheme": "ws", "subprotocols": [],
             "server": ("testserver", 80), "client": ("127.0.0.1", 50000), "asgi": {"version": "3.0"}}
    await app(scope, receive, send)
    return sent
