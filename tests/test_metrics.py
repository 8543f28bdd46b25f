"""/metrics adds up every worker process, reads occupancy from Redis, holds nothing personal, and
answers only an operator or monitor token."""

import asyncio
import re
import time
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
from prometheus_client import REGISTRY
from sqlalchemy import text
from websockets.asyncio.client import connect

from occupancy import ops
from occupancy.errors import ServiceUnavailable, error_response
from occupancy.visits.errors import CountsRebuilding
from occupancy.visits.reasons import CheckOutReason, Refusal

from .crowd import crowd
from .visits.helpers import visitor


def _value(text: str, name: str, labels: str = "") -> float:
    pattern = rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+]+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{name}{labels} not in /metrics"
    return float(match[1])


async def test_metrics_count_across_two_workers(live_server, make_venue, issue_token):
    venue, code = await make_venue(capacity=30, code="metrics-mall", district="Karawaci",
                                   category="mall")
    body = visitor(name="Siti Rahmawati", phone="0813 9999 8888", email="siti@example.id",
                   party_size=2)
    # Sent at once on separate connections, so both worker processes serve some of them.
    answers = await crowd(live_server.url,
                          [("POST", f"/api/venues/{code}/check-ins", body)] * 20)
    admitted = [a for a in answers if a.status_code == 201]
    assert len(admitted) == 15 and all(a.status_code == 409 for a in answers if a not in admitted)
    await crowd(live_server.url,
                [("POST", f"/api/tickets/{a.json()['ticket']}/check-out", None) for a in admitted[:5]])

    text = httpx.get(f"{live_server.url}/metrics", headers=await issue_token("monitor")).text
    assert _value(text, "occupancy_check_ins_total") == 15
    assert _value(text, "occupancy_visitors_admitted_total") == 30
    assert _value(text, "occupancy_refusals_total", '{reason="full"}') == 5
    assert _value(text, "occupancy_check_outs_total", '{reason="visitor"}') == 5
    # Every other reason is there too, at 0 (a dashboard's rate is 0, not "no data").
    for reason in set(Refusal) - {Refusal.FULL}:
        assert _value(text, "occupancy_refusals_total", f'{{reason="{reason}"}}') == 0
    for reason in set(CheckOutReason) - {CheckOutReason.VISITOR}:
        assert _value(text, "occupancy_check_outs_total", f'{{reason="{reason}"}}') == 0
    labels = '{category="mall",district="Karawaci",venue="metrics-mall"}'
    assert _value(text, "occupancy_people", labels) == 20
    assert _value(text, "occupancy_capacity", labels) == 30
    assert 'route="/api/venues/{code}/check-ins"' in text  # latency by route template, not path
    # Group commit: 20 writes (15 check-ins, 5 check-outs) in at most as many transactions.
    assert _value(text, "occupancy_sql_batch_rows_total") == 20
    assert 1 <= _value(text, "occupancy_sql_batches_total") <= 20
    assert _value(text, "occupancy_sql_batch_seconds_count") == _value(text, "occupancy_sql_batches_total")
    assert _value(text, "occupancy_event_loop_lag_seconds_count") > 0  # each worker times its loop
    for personal in ("Siti", "Rahmawati", "0813", "99998888", "siti@example.id", code):
        assert personal not in text
    server_log = Path(live_server.log.name).read_text()
    for personal in ("Siti", "99998888", "siti@example.id"):
        assert personal not in server_log


async def test_metrics_read_every_venue_across_chunks(client, make_venue, issue_token, monkeypatch):
    """A big city is read from Redis a few venues at a time; every venue still gets its figures."""
    monkeypatch.setattr(ops, "METRICS_CHUNK", 2)
    codes = [(await make_venue(capacity=10 + i, code=f"chunk-{i}"))[1] for i in range(5)]
    for i, code in enumerate(codes):
        for _ in range(i):
            answer = await client.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1))
            assert answer.status_code == 201
    text = (await client.get("/metrics", headers=await issue_token("operator"))).text
    for i in range(5):
        labels = f'{{category="shop",district="",venue="chunk-{i}"}}'
        assert _value(text, "occupancy_people", labels) == i
        assert _value(text, "occupancy_capacity", labels) == 10 + i


async def test_metrics_need_an_operator_or_monitor_token(client, make_venue, issue_token):
    """Every venue's headcount at once is more than the public counts: anonymous callers, managers,
    door staff and officials are refused, and a monitor token opens /metrics and nothing else."""
    venue, code = await make_venue(capacity=10)
    anonymous = await client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"
    for role, venue_id in (("manager", venue.id), ("staff", venue.id), ("official", None)):
        refused = await client.get("/metrics", headers=await issue_token(role, venue_id))
        assert refused.status_code == 403, role
        assert refused.json()["error"]["code"] == "forbidden"
        assert "occupancy_people" not in refused.text

    monitor = await issue_token("monitor")
    assert (await client.get("/metrics", headers=monitor)).status_code == 200
    assert (await client.get(f"/api/venues/{venue.id}", headers=monitor)).status_code == 403
    assert (await client.patch(f"/api/venues/{venue.id}", json={"capacity": 5},
                               headers=monitor)).status_code == 403
    assert (await client.get("/api/city/now", headers=monitor)).status_code == 403
    assert (await client.get(f"/api/venues/{code}/occupancy")).json()["capacity"] == 10


async def test_a_monitor_token_signs_in_to_no_page(client, issue_token):
    token = (await issue_token("monitor"))["Authorization"].removeprefix("Bearer ")
    answer = await client.post("/login", data={"token": token})
    assert answer.status_code == 403 and "set-cookie" not in answer.headers
    assert "pengumpul metrik" in answer.text  # Indonesian unless the browser asks for English


async def test_metrics_keep_answering_a_known_token_while_sql_is_down(client, services, issue_token):
    """Prometheus scrapes through a database outage (when its figures matter most): a token checked
    before keeps its answer; one never seen gets a clear 503, not a 500."""
    services.tokens.ttl = 0  # every request asks SQL again
    monitor = await issue_token("monitor")
    assert (await client.get("/metrics", headers=monitor)).status_code == 200
    unseen = await issue_token("operator")
    async with services.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE access_tokens RENAME TO access_tokens_away"))
    try:
        assert (await client.get("/metrics", headers=monitor)).status_code == 200
        refused = await client.get("/metrics", headers=unseen)
    finally:
        async with services.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE access_tokens_away RENAME TO access_tokens"))
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "service_unavailable"
    assert "cannot be checked" in refused.json()["error"]["message"]
    assert (await client.get("/metrics", headers=unseen)).status_code == 200


async def test_made_up_tokens_do_not_fill_the_memory(services, monkeypatch):
    from occupancy.accounts import service as accounts

    monkeypatch.setattr(accounts, "REMEMBER_AT_MOST", 50)
    for i in range(500):
        assert await services.tokens.principal(f"occ_made-up-{i}") is None
    assert len(services.tokens._cache) <= 50


async def test_open_sockets_are_summed_over_the_workers_and_leave_when_closed(
        live_server, make_venue, issue_token):
    venue, _ = await make_venue()
    manager = await issue_token("manager", venue.id)
    monitor = await issue_token("monitor")
    url = live_server.url.replace("http://", "ws://") + f"/ws/venues/{venue.id}"

    def open_sockets() -> float:
        return _value(httpx.get(f"{live_server.url}/metrics", headers=monitor).text,
                      "occupancy_open_sockets")

    async def until(expected: float) -> float:
        deadline = time.monotonic() + 20
        while (seen := open_sockets()) != expected and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return seen

    assert open_sockets() == 0
    async with AsyncExitStack() as sockets:
        workers, opened = set(), 0
        # The kernel spreads connections over both workers at random (six in a row can all go to
        # one): open them until both serve some, at least six.
        while opened < 6 or (len(workers) < 2 and opened < 60):
            ws = await sockets.enter_async_context(connect(url, additional_headers=manager))
            workers.add(ws.response.headers["x-occupancy-worker"])
            await ws.recv()  # the snapshot: the socket is served
            opened += 1
        assert len(workers) == 2, "the sockets should be spread over both workers"
        assert await until(opened) == opened
    assert await until(0) == 0


async def test_a_dependency_that_fails_a_request_is_counted_by_name(client, services, make_venue,
                                                                    issue_token):
    _, code = await make_venue(capacity=10)
    operator = await issue_token("operator")

    async def sql_errors() -> float:
        text_ = (await client.get("/metrics", headers=operator)).text
        assert _value(text_, "occupancy_dependency_errors_total", '{dependency="redis"}') >= 0
        return _value(text_, "occupancy_dependency_errors_total", '{dependency="sql"}')

    before = await sql_errors()
    async with services.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE visits RENAME TO visits_away"))
    try:
        refused = await client.post(f"/api/venues/{code}/check-ins", json=visitor())
    finally:
        async with services.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE visits_away RENAME TO visits"))
    assert refused.status_code == 503
    assert await sql_errors() == before + 1


async def test_one_worker_counts_in_memory(settings, make_venue, issue_token):
    """`serve --workers 1` keeps its metrics in its own process, and /metrics shows them."""
    from .conftest import LiveServer

    _, code = await make_venue(capacity=5)
    server = LiveServer(settings, workers=1).start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            for _ in range(3):
                answer = await http.post(f"/api/venues/{code}/check-ins", json=visitor(party_size=1))
                assert answer.status_code == 201
            text_ = (await http.get("/metrics", headers=await issue_token("monitor"))).text
    finally:
        server.stop()
    assert _value(text_, "occupancy_check_ins_total") == 3


def test_every_503_is_counted_by_its_code():
    def count(code: str) -> float:
        return REGISTRY.get_sample_value("occupancy_unavailable_answers_total", {"code": code}) or 0

    before = count("rebuilding"), count("service_unavailable")
    assert error_response(CountsRebuilding()).status_code == 503
    assert error_response(ServiceUnavailable()).status_code == 503
    assert (count("rebuilding"), count("service_unavailable")) == (before[0] + 1, before[1] + 1)


async def test_bookings_are_counted_by_outcome_and_refusals_by_code(
    client, services, make_venue, issue_token
):
    """Made, replayed (not counted again), cancelled, claimed, expired; refusals by their code;
    no venue label and nothing personal in /metrics."""
    from datetime import timedelta

    from occupancy.bookings.expiry import SlotTimers
    from tests.bookings.test_claims import book, venue_in_its_slot
    from tests.bookings.test_expiry import GRACE, slot_times

    def counts() -> dict[str, float]:
        made = {o: REGISTRY.get_sample_value("occupancy_bookings_total", {"outcome": o})
                for o in ("booked", "cancelled", "claimed", "expired")}
        refused = {c: REGISTRY.get_sample_value("occupancy_booking_refusals_total", {"code": c})
                   for c in ("slot_full", "booking_limit", "unknown_booking", "booking_cancelled",
                             "malformed_booking")}
        return made | refused

    venue, signed, _, slot, later = await venue_in_its_slot(client, make_venue, issue_token,
                                                            capacity=10, advance_percent=50)
    before = counts()
    claimed, expiring = await book(client, signed, slot, 1, 2), await book(client, signed, slot, 2, 2)
    body = {"slot": later, "name": "Dewi Lestari", "phone": "0857 4444 1212", "party_size": 5,
            "idempotency_key": "metrics-booking-key-0001"}
    for status in (201, 200):  # the retry is the same booking, counted once
        answer = await client.post(f"/api/venues/{signed}/bookings", json=body)
        assert answer.status_code == status, answer.text
    cancelled = answer.json()["booking"]
    full = await client.post(f"/api/venues/{signed}/bookings", json=body | {
        "phone": "0857 4444 3434", "party_size": 1, "idempotency_key": None})
    limit = await client.post(f"/api/venues/{signed}/bookings", json=body | {
        "slot": slot, "party_size": 1, "idempotency_key": None})
    assert (full.json()["error"]["code"], limit.json()["error"]["code"]) == (
        "slot_full", "booking_limit")
    for _ in range(2):
        assert (await client.post("/api/booking-cancellations",
                                  json={"booking": cancelled})).status_code == 200
    again = await client.post(f"/api/venues/{signed}/check-ins", json={"booking": cancelled})
    assert again.json()["error"]["code"] == "booking_cancelled"
    unknown = await client.post("/api/booking-cancellations",
                                json={"booking": cancelled[:-4] + "AAAA"})
    malformed = await client.post("/api/booking-cancellations", json={"booking": "nonsense"})
    assert (unknown.json()["error"]["code"], malformed.json()["error"]["code"]) == (
        "unknown_booking", "malformed_booking")
    for _ in range(2):
        assert (await client.post(f"/api/venues/{signed}/check-ins",
                                  json={"booking": claimed})).status_code in (200, 201)
    hold_ends = slot_times(slot)[0] + timedelta(minutes=30)
    assert await SlotTimers(services.bookings, services.visits, GRACE).run(hold_ends) == (1, 0)

    after = counts()
    delta = {name: after[name] - before[name] for name in after}
    assert delta == {"booked": 3, "cancelled": 1, "claimed": 1, "expired": 1, "slot_full": 1,
                     "booking_limit": 1, "booking_cancelled": 1, "unknown_booking": 1,
                     "malformed_booking": 1}
    text_ = (await client.get("/metrics", headers=await issue_token("monitor"))).text
    assert 'occupancy_bookings_total{outcome="expired"}' in text_
    # (the phone's digits whole: short runs of digits occur in the timestamps)
    for personal in ("Dewi", "Lestari", "85744441212", "4444 1212", "Siti", expiring, venue.code):
        assert personal not in text_.split("occupancy_people")[0]


async def test_the_line_length_is_the_parties_waiting_in_every_line_with_no_venue_label(
    client, services, make_venue, issue_token
):
    """Read from Redis at the scrape, all venues together; offered parties no longer wait; a
    join is counted once however often retried; nothing personal, no venue."""
    from tests.line.test_line import check_out, full_venue, join

    def joined() -> float:
        return REGISTRY.get_sample_value("occupancy_line_events_total", {"event": "joined"})

    monitor = await issue_token("monitor")
    text_ = (await client.get("/metrics", headers=monitor)).text
    assert _value(text_, "occupancy_line_waiting") == 0
    before = joined()
    first, signed_first, tickets = await full_venue(client, make_venue, capacity=1)
    _, signed_second, _ = await full_venue(client, make_venue, capacity=1)
    for n in range(3):
        await join(client, signed_first, key=f"metrics-line-{n}-abcdefgh",
                   phone=f"0857 6666 {n:04d}")
    await join(client, signed_first, key="metrics-line-0-abcdefgh")  # a retry: counted once
    for _ in range(2):
        await join(client, signed_second)
    await check_out(client, tickets[0])
    assert len(await services.line.advance(first.id)) == 1  # the head is offered: not waiting

    text_ = (await client.get("/metrics", headers=monitor)).text
    assert _value(text_, "occupancy_line_waiting") == 4
    assert "occupancy_line_waiting{" not in text_
    assert joined() - before == 5
    assert "66660000" not in text_ and "6666 0000" not in text_
