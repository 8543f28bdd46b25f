"""Every route and socket against every role, table-driven over the app's route list: each
route's declared rule names who may call it, and the app agrees for anonymous callers, door staff
and the manager of venue A, the manager of venue B, an official, an operator (the admin) and a
monitor. (A ticket holder needs no token: the visitor routes are open.)"""

import pytest

from tests.test_route_rules import _fill, route_rules, socket_answer

ROLES = ("anonymous", "staff A", "manager A", "manager B", "official", "operator", "monitor")
EVERYONE = set(ROLES)
SIGNED_IN = EVERYONE - {"anonymous"}
STAFF_A = {"staff A", "manager A", "operator"}
# Who each declared rule lets in (the page and socket variants as their routes).
ALLOWED = {
    "open": EVERYONE,
    "open (reads a token if sent)": EVERYONE,
    "signed in": SIGNED_IN,
    "venue staff": STAFF_A,
    "venue staff (of the ticket's venue)": STAFF_A,
    "venue manager": {"manager A", "operator"},
    "venue staff or official": STAFF_A | {"official"},
    "venue manager or official": {"manager A", "official", "operator"},
    "official": {"official", "operator"},
    "health official": {"official"},
    "audit reader": {"official", "operator"},
    "metrics reader": {"operator", "monitor"},
    "venue staff or official (page)": STAFF_A | {"official"},
    "venue staff (page)": STAFF_A,
    "official (page)": {"official", "operator"},
    "health official (page)": {"official"},
    "venue staff or official (socket)": STAFF_A | {"official"},
    "official (socket)": {"official", "operator"},
}


@pytest.fixture
def empty_database_url(sqlite_database_url):
    """Who may call a route does not depend on the database."""
    return sqlite_database_url


async def test_every_route_and_socket_admits_exactly_the_roles_its_rule_names(
        client, make_venue, issue_token):
    venue, signed_code = await make_venue()
    other, _ = await make_venue()
    tokens = {"staff A": await issue_token("staff", venue.id),
              "manager A": await issue_token("manager", venue.id),
              "manager B": await issue_token("manager", other.id),
              "official": await issue_token("official"),
              "operator": await issue_token("operator"),
              "monitor": await issue_token("monitor")}
    app = client._transport.app
    # The login form answers 401 to wrong credentials and logout sends to the login page: their
    # own outcomes, not a rule's refusal.
    routes = [r for r in route_rules(app.routes)
              if r[2] is not None and r[1] not in ("/static", "/login", "/logout")]
    assert {rule for _, _, rule in routes} <= set(ALLOWED), "a new rule needs its row here"
    checked = 0
    for kind, template, rule in routes:
        path = _fill(template, venue.id, signed_code)
        for role in ROLES:
            token = tokens.get(role, {}).get("Authorization", "").removeprefix("Bearer ")
            expected = role in ALLOWED[rule]
            if kind == "WS":
                sent = await socket_answer(app, path, token)
                refused = ("websocket.close", 4401) in sent or ("websocket.close", 4403) in sent
                assert refused != expected, (path, role, sent)
                checked += 1
                continue
            for method in set(kind.split(",")) - {"HEAD"}:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                if not path.startswith(("/api/", "/metrics")):
                    headers = {"Cookie": f"occupancy_token={token}"} if token else {}
                answer = await client.request(method, path, json={}, headers=headers)
                refused = answer.status_code in (401, 403) or (
                    answer.status_code == 303 and "/login" in answer.headers.get("location", ""))
                assert refused != expected, (method, path, role, answer.status_code, answer.text[:200])
                checked += 1
    assert checked >= 35 * len(ROLES)  # every route and method, for every role
