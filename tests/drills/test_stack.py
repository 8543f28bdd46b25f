"""Several hosts, for real: `occupancy stack up` on this machine (network namespaces, as root).

Two app hosts behind nginx (deploy/nginx.conf), a Redis Cluster of three masters with replicas,
PostgreSQL and Prometheus (deploy/prometheus.yml), each host at its own address. Shown: a check-in
the balancer sends to host A reaches a dashboard connected to host B; capacity holds across both
hosts under a crowd; Prometheus answers every query of the Grafana dashboard with the right
figures; a host killed with SIGKILL under load leaves the other serving through the balancer,
with no check-in lost, none counted twice and no 502.
"""

import asyncio
import json
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml
from websockets.asyncio.client import connect

from loadtest.peak import scale
from occupancy.cli.stack import missing_requirements
from occupancy.settings import Settings
from occupancy.stack.layout import DEPLOY
from occupancy.stack.stack import Stack
from occupancy.visits.tickets import digest
from tests.conftest import SECRET
from tests.crowd import crowd
from tests.visits.helpers import live_count, open_people_in_sql, visit_rows, visitor

pytestmark = pytest.mark.skipif(bool(missing_requirements()),
                                reason="the stack needs " + ", ".join(missing_requirements()))

DASHBOARD = json.loads((DEPLOY / "dashboards" / "occupancy.json").read_text())


@pytest.fixture(scope="module")
async def stack():
    """One stack for the module, torn down even when a test fails (or the start does)."""
    started = await asyncio.to_thread(
        Stack.up, secret_key=SECRET,
        # The crowds come from one address (this machine): no rate limit between them.
        extra_env={"OCCUPANCY_CHECK_INS_PER_ADDRESS": "0", "OCCUPANCY_CHECK_INS_PER_VENUE": "0"})
    try:
        yield started
    finally:
        await asyncio.to_thread(started.down)
    assert not Path(started.root).exists()


@pytest.fixture
def settings(stack) -> Settings:
    """This process reaches the stack's Redis Cluster and PostgreSQL at their addresses."""
    return Settings(database_url=stack.database_url, redis_url=stack.redis_url, secret_key=SECRET,
                    public_url=stack.balancer_url, auto_checkout_interval_seconds=3600)


def balancer(stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.balancer_url, verify=False, timeout=15)


async def check_ins_served(stack, host: str, monitor: dict) -> float:
    """Check-ins admitted by ``host``, from its own /metrics."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{stack.app_url(host)}/metrics", headers=monitor)).text
    return float(re.search(r"^occupancy_check_ins_total ([0-9.e+]+)$", text, re.M)[1])


async def next_frame_where(ws, predicate, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
        if predicate(frame):
            return frame


async def test_a_check_in_on_host_a_reaches_a_dashboard_on_host_b(stack, make_venue, issue_token):
    venue, code = await make_venue(capacity=50, code="stack-live")
    manager, monitor = await issue_token("manager", venue.id), await issue_token("monitor")
    socket_url = stack.app_url("app-b").replace("http://", "ws://") + f"/ws/venues/{venue.id}"
    async with connect(socket_url, additional_headers=manager) as ws, balancer(stack) as http:
        assert json.loads(await ws.recv())["count"] == 0  # the snapshot, from host B
        # Round-robin: within a few check-ins one is served by host A (its own counter says so).
        admitted = 0
        while True:
            admitted += 1
            assert admitted <= 6, "the balancer sent no check-in to host A"
            on_a = await check_ins_served(stack, "app-a", monitor)
            answer = await http.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=2))
            assert answer.status_code == 201, answer.text
            if await check_ins_served(stack, "app-a", monitor) == on_a + 1:
                break
        frame = await next_frame_where(ws, lambda f: f.get("count") == 2 * admitted)
        assert frame["count"] == 2 * admitted


async def test_capacity_holds_across_both_hosts_under_a_crowd(stack, services, make_venue,
                                                              issue_token):
    venue, code = await make_venue(capacity=100, code="stack-crowd")
    monitor = await issue_token("monitor")
    before = {host: await check_ins_served(stack, host, monitor) for host in ("app-a", "app-b")}
    body = visitor(party_size=1)
    answers = await crowd(stack.balancer_url,
                          [("POST", f"/api/venues/{code}/check-ins",
                            {**body, "idempotency_key": uuid.uuid4().hex}) for _ in range(400)])
    statuses = [a.status_code for a in answers]
    assert statuses.count(201) == 100, sorted(set(statuses))
    assert all(a.json()["error"]["code"] == "venue_full" for a in answers if a.status_code != 201)
    served = {host: await check_ins_served(stack, host, monitor) - before[host]
              for host in ("app-a", "app-b")}
    assert sum(served.values()) == 100 and min(served.values()) > 0, served  # both hosts admitted
    assert await live_count(services, venue.id) == 100
    assert await open_people_in_sql(services, venue.id) == 100


async def prometheus(stack, expr: str) -> list[dict]:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = (await http.get(f"{stack.prometheus_url}/api/v1/query", params={"query": expr})).json()
    assert answer["status"] == "success", (expr, answer)
    return answer["data"]["result"]


def dashboard_queries() -> dict[str, str]:
    """Every panel's queries, as Grafana would send them ($__rate_interval: 4 scrapes or more)."""
    return {f"{panel['title']} / {target['refId']}": target["expr"].replace("$__rate_interval", "1m")
            for panel in DASHBOARD["panels"] for target in panel["targets"]}


async def test_prometheus_answers_every_dashboard_query_with_the_right_figures(
        stack, make_venue, issue_token):
    venue, code = await make_venue(capacity=8, code="stack-metrics", district="Cipondoh")
    manager = await issue_token("manager", venue.id)
    async with balancer(stack) as http:
        tickets = []
        for _ in range(4):
            answer = await http.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=2))
            assert answer.status_code == 201
            tickets.append(answer.json()["ticket"])
        assert (await http.post("/api/check-outs", json={"ticket": tickets[0]})).status_code == 200
        assert (await http.post(f"/api/venues/{code}/check-ins",
                                json=visitor(party_size=4))).status_code == 409
    socket_url = stack.app_url("app-b").replace("http://", "ws://") + f"/ws/venues/{venue.id}"
    async with connect(socket_url, additional_headers=manager) as ws:
        await ws.recv()
        queries = dashboard_queries()
        expected = {  # what is known exactly: this venue's and district's figures, the sockets
            "max by (venue) (occupancy_people)": ({"venue": "stack-metrics"}, 6),
            "100 * max by (venue) (occupancy_people) / max by (venue) (occupancy_capacity)":
                ({"venue": "stack-metrics"}, 75),
            "sum by (district) (max by (venue, district) (occupancy_people))":
                ({"district": "Cipondoh"}, 6),
            "sum by (instance) (occupancy_open_sockets)": ({"instance": "app-b:8000"}, 1),
        }
        # Check-ins and a check-out were just made (rates need two scrapes after them).
        positive = ["sum(rate(occupancy_check_ins_total[1m]))",
                    "sum(rate(occupancy_check_outs_total[1m]))"]
        assert set(expected) | set(positive) <= set(queries.values())

        def shows(result: list[dict], labels: dict, value: float) -> bool:
            return any(labels.items() <= r["metric"].items() and float(r["value"][1]) == value
                       for r in result)

        # Prometheus scrapes every 5 s: wait until a scrape shows all of it.
        deadline = time.monotonic() + 60
        while True:
            results = {expr: await prometheus(stack, expr) for expr in queries.values()}
            missing = [name for name, expr in queries.items() if not results[expr]]
            wrong = [expr for expr, (labels, value) in expected.items()
                     if not shows(results[expr], labels, value)]
            wrong += [expr for expr in positive
                      if not results[expr] or float(results[expr][0]["value"][1]) <= 0]
            if not missing and not wrong:
                break
            assert time.monotonic() < deadline, f"no data: {missing}; wrong: {wrong}; {results}"
            await asyncio.sleep(1)
    full = await prometheus(stack, 'sum(rate(occupancy_refusals_total{reason="full"}[1m]))')
    assert float(full[0]["value"][1]) > 0
    for quantile in ("0.5", "0.95", "0.99"):  # of the check-ins above: in the histogram's range
        latency = next(r for expr, r in results.items() if f"histogram_quantile({quantile}," in expr)
        assert 0 < float(latency[0]["value"][1]) <= 2.5, latency
    up = results['up{job="occupancy"}']
    assert sorted((r["metric"]["instance"], r["value"][1]) for r in up) == [
        ("app-a:8000", "1"), ("app-b:8000", "1")]


async def test_prometheus_loads_the_alerting_rules_and_has_every_series_they_read(stack):
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    series = {name for group in rules["groups"] for rule in group["rules"]
              for name in re.findall(r"\boccupancy_\w+", rule["expr"])}
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=10) as http:
        while True:  # evaluated every 5 s: each rule "ok" after its first evaluation
            loaded = (await http.get(f"{stack.prometheus_url}/api/v1/rules")).json()["data"]
            health = {rule["name"]: rule["health"] for group in loaded["groups"]
                      for rule in group["rules"]}
            if set(health) == names and set(health.values()) == {"ok"}:
                break
            assert time.monotonic() < deadline, health
            await asyncio.sleep(1)
    missing = [name for name in sorted(series)
               if not await prometheus(stack, f'count({{__name__="{name}"}})')]
    assert not missing, missing


async def keep_checking_in(http, code: str, answers: list, stop: asyncio.Event) -> None:
    """A phone checking in again and again through the balancer, each once: no retry of its own.
    Every other check-in sends no idempotency key (nginx gives it one, kept across its retry)."""
    while not stop.is_set():
        key = uuid.uuid4().hex if len(answers) % 2 else None
        body = visitor(party_size=1, **({"idempotency_key": key} if key else {}))
        answers.append(await http.post(f"/api/venues/{code}/check-ins", json=body))


async def test_the_scale_benchmark_reads_every_parts_cpu_per_visit(stack, services, make_venue):
    """loadtest.peak.scale, on a few visits: each part's processes worked for them (docs/operations.md
    sizes a deployment from these figures), and every visit was checked out again."""
    venue, code = await make_venue(capacity=1000, code="stack-scale")
    seconds, per_visit = await asyncio.to_thread(scale.measure, stack, [code], 120, 8, 0.5)
    assert seconds > 0 and set(per_visit) == set(scale.PARTS)
    assert all(with_rest > 0 for _, with_rest in per_visit.values()), per_visit
    assert await live_count(services, venue.id) == await open_people_in_sql(services, venue.id) == 0


async def test_a_host_killed_under_load_loses_no_check_in_and_answers_no_502(
        stack, services, make_venue):
    """SIGKILL to app-a while check-ins stream through nginx: the POSTs app-a had taken, and
    those nginx sends on its kept-alive connections to app-a, go to app-b with the same idempotency
    key; every phone gets its ticket at the first try, and each counts once in SQL."""
    venue, code = await make_venue(capacity=100_000, code="stack-kill")
    answers: list[httpx.Response] = []
    stop = asyncio.Event()
    async with balancer(stack) as http:
        phones = [asyncio.create_task(keep_checking_in(http, code, answers, stop))
                  for _ in range(16)]
        try:
            # Both hosts busy, nginx holding kept-alive connections to each, then the kill.
            while len(answers) < 100:
                await asyncio.sleep(0.05)
            stack.kill("app-a")
            killed_at, before_kill = time.monotonic(), len(answers)
            # Long enough for every connection nginx kept to app-a to be tried and dropped.
            while time.monotonic() - killed_at < 5 or len(answers) < before_kill + 200:
                await asyncio.sleep(0.05)
                assert time.monotonic() - killed_at < 120, "check-ins stalled after the kill"
        finally:
            stop.set()
            await asyncio.gather(*phones, return_exceptions=True)
    # 200: a check-in app-a had admitted when it died, replayed by app-b under the same key.
    failed = [(a.status_code, a.text[:100]) for a in answers if a.status_code not in (200, 201)]
    assert not failed, (failed, (stack.root / "nginx" / "error.log").read_text()[-3000:])
    # Exactly once: one visit row per ticket handed out, no other row, and the live count agrees.
    tickets_given = {digest(a.json()["ticket"]) for a in answers}
    assert len(tickets_given) == len(answers)
    assert {row.ticket_hash for row in await visit_rows(services, venue.id)} == tickets_given
    assert len(await visit_rows(services, venue.id)) == len(answers)
    assert await open_people_in_sql(services, venue.id) == len(answers)
    assert await live_count(services, venue.id) == len(answers)
    async with httpx.AsyncClient(timeout=2) as direct:
        with pytest.raises(httpx.ConnectError):
            await direct.get(f"{stack.app_url('app-a')}/healthz")  # host A is really gone
