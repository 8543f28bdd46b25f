"""The OpenAPI description fuzzed with schemathesis against a running server: no answer is a 5xx,
and every 4xx carries the JSON error (``{"error": {"code", "message"}}``).

A short run: each operation gets a few dozen cases, valid and invalid by the schema, with random
path parameters and with those of a real venue and visit, so the cases reach past the lookups.
``OCCUPANCY_FUZZ_EXAMPLES`` sets how many per operation and kind (a longer run: 500). To stay
short it runs on one database: PostgreSQL when the suite has one (where an id beyond int4 used
to fail), else SQLite.
"""

import asyncio
import os

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

from tests.conftest import (
    POSTGRES_ADMIN_URL,
    LiveServer,
    _create_postgres_database,
    _drop_postgres_database,
)
from tests.visits.helpers import visitor

EXAMPLES = int(os.environ.get("OCCUPANCY_FUZZ_EXAMPLES", "10"))


@pytest.fixture
async def empty_database_url(sqlite_database_url):
    if not POSTGRES_ADMIN_URL:
        yield sqlite_database_url
        return
    url, name = await _create_postgres_database()
    yield url
    await _drop_postgres_database(name)


def _problem(response) -> str | None:
    """What is wrong with an answer, if anything."""
    if response.status_code >= 500:
        return f"answered {response.status_code}"
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            if not (isinstance(error["code"], str) and len(error["message"]) > 5):
                return "a 4xx whose error has no code or message"
        except (ValueError, KeyError, TypeError):
            return f"a {response.status_code} without the JSON error body: {response.text[:100]!r}"
    return None


def _fuzz(base_url: str, openapi: dict, real: dict, auth: dict) -> list[str]:
    """Every operation, every kind of case; returns what went wrong (empty when all is well)."""
    schema = schemathesis.openapi.from_dict(openapi)
    problems: list[str] = []
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        fixed = {name: value for name, value in real.items() if name in names}
        kinds = [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
        if fixed:
            kinds.append((GenerationMode.POSITIVE, fixed))
        for mode, path_parameters in kinds:
            strategy = operation.as_strategy(mode, path_parameters=path_parameters)

            @given(strategy)
            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case):
                response = case.call(base_url=base_url, session=session, headers=auth, timeout=30)
                if (problem := _problem(response)) is not None and len(problems) < 20:
                    problems.append(f"{case.operation.label}: {problem}\n  {case.as_curl_command()}")

            try:
                run()
            except Unsatisfiable:  # an operation without parameters or body has no invalid case
                assert mode is GenerationMode.NEGATIVE, operation.label
    return problems


async def test_the_fuzzed_openapi_schema_gets_no_5xx_and_json_errors(settings, services, make_venue,
                                                                     issue_token):
    venue, code = await make_venue(capacity=1000, max_party=10)
    operator = await issue_token("operator")
    server = LiveServer(settings, workers=1).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            openapi = (await http.get("/openapi.json")).json()
            ticket = (await http.post(f"/api/venues/{code}/check-ins", json=visitor())).json()["ticket"]
        real = {"venue_id": venue.id, "code": code, "ticket": ticket, "fmt": "svg"}
        problems = await asyncio.to_thread(_fuzz, server.url, openapi, real, operator)
    finally:
        server.stop()
    assert not problems, "\n".join(problems) + "\n" + server.errors()
