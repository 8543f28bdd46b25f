"""Prometheus metrics. Counts only: no names, phones or emails ever become labels.

With several worker processes ``occupancy serve`` sets PROMETHEUS_MULTIPROC_DIR and /metrics
merges every process's values; live occupancy is read from Redis at scrape time.
"""

import asyncio
import os
import time

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from occupancy.live import wire
from occupancy.visits.reasons import CheckOutReason, Refusal

CHECK_INS = Counter("occupancy_check_ins", "Check-ins admitted (parties)")
VISITORS_ADMITTED = Counter("occupancy_visitors_admitted", "People admitted (sum of party sizes)")
CHECK_OUTS = Counter("occupancy_check_outs", "Visits ended, by reason", ["reason"])
REFUSALS = Counter("occupancy_refusals", "Check-ins refused, by reason", ["reason"])
# Every reason, exported (at 0) before its first event, so that a dashboard's rate is 0 rather
# than no data.
for _reason in Refusal:
    REFUSALS.labels(_reason)
for _reason in CheckOutReason:
    CHECK_OUTS.labels(_reason)
# Bookings of venues run by slots: counts only, no venue label (as check-ins), never a phone.
BOOKING_OUTCOMES = ("booked", "cancelled", "claimed", "expired")
BOOKINGS = Counter("occupancy_bookings", "Bookings made, cancelled, claimed at the door and expired "
                   "unclaimed (parties), by outcome", ["outcome"])
BOOKING_REFUSALS = Counter("occupancy_booking_refusals", "Booking, cancellation and claim requests "
                           "refused, by error code", ["code"])
# The codes a booking request is refused with (others appear at their first event).
BOOKING_REFUSAL_CODES = ("slot_full", "booking_limit", "slot_closed", "unknown_slot", "day_past",
                         "day_too_far", "no_slots", "invalid_input", "unknown_booking",
                         "malformed_booking", "other_venue", "booking_cancelled", "booking_claimed",
                         "booking_expired", "claim_too_early", "venue_full", "venue_paused")
for _outcome in BOOKING_OUTCOMES:
    BOOKINGS.labels(_outcome)
for _code in BOOKING_REFUSAL_CODES:
    BOOKING_REFUSALS.labels(_code)
LINE_EVENTS = Counter("occupancy_line_events", "Waiting line: parties that joined, left, were "
                      "offered places, claimed them or let their offer pass; joins taken back "
                      "after their lease (orphaned: no SQL row)", ["event"])
for _event in ("joined", "left", "offered", "claimed", "passed", "orphaned"):
    LINE_EVENTS.labels(_event)
DEPENDENCY_ERRORS = Counter(
    "occupancy_dependency_errors", "Requests and sockets answered 503 because Redis or SQL did not "
    "answer (down, timed out, refused), by dependency", ["dependency"])
for _dependency in ("redis", "sql"):
    DEPENDENCY_ERRORS.labels(_dependency)
UNAVAILABLE_ANSWERS = Counter(
    "occupancy_unavailable_answers", "Requests answered 503 with Retry-After, by error code (a "
    "dependency away, the live counts being rebuilt, a check-out pending)", ["code"])
UNAVAILABLE_ANSWERS.labels("service_unavailable")
# Summed over the live worker processes (a dead worker's value is dropped by serving.py).
OPEN_SOCKETS = Gauge("occupancy_open_sockets", "WebSockets open now (dashboards, door displays, "
                     "the city view)", multiprocess_mode="livesum")
CONNECTION_LIMIT = Gauge("occupancy_connection_limit", "Connections and sockets the live worker "
                         "processes accept in all; past it, new ones are refused",
                         multiprocess_mode="livesum")
REBUILDS = Counter("occupancy_rebuilds", "Times Redis had lost its state and every venue was "
                   "loaded again from SQL")
ORPHANS_RELEASED = Counter("occupancy_orphans_released", "Reservations released because no SQL row "
                           "came within their lease (a process died or SQL failed before the undo)")
CHECK_OUTS_FINISHED = Counter("occupancy_check_outs_finished", "Check-outs left half done (closing) "
                              "past their lease, finished or reopened by the lease check", ["outcome"])
DRIFT_REPAIRS = Counter("occupancy_drift_repairs", "Venues whose live count or open tickets differed "
                        "from their open visits in SQL and were repaired")
PERSONAL_DATA_PURGED = Counter("occupancy_personal_data_purged", "Visits whose personal data was "
                               "purged after the retention period")
TRACING_QUERIES = Counter("occupancy_tracing_queries", "Contact-tracing queries, by outcome",
                          ["outcome"])
SQL_BATCHES = Counter("occupancy_sql_batches", "SQL transactions of the group commit (journal)")
SQL_BATCH_ROWS = Counter("occupancy_sql_batch_rows", "Writes in those transactions (rows per batch: "
                         "this over occupancy_sql_batches)")
_STALL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SQL_BATCH_SECONDS = Histogram(
    "occupancy_sql_batch_seconds", "Time of one group-commit transaction, start to commit",
    buckets=_STALL_BUCKETS,
)
EVENT_LOOP_LAG_SECONDS = Histogram(
    "occupancy_event_loop_lag_seconds",
    "How late a worker's event loop ran a timer (every 100 ms): the time a stall held every request",
    buckets=_STALL_BUCKETS,
)
REQUEST_SECONDS = Histogram(
    "occupancy_request_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


class _Occupancy:
    """Yields the live occupancy read from Redis just before the scrape."""

    def __init__(self, rows: list[tuple[str, str, str, int, int]], line_waiting: int) -> None:
        self.rows = rows
        self.line_waiting = line_waiting

    def collect(self):
        people = GaugeMetricFamily(
            "occupancy_people", "People inside now", labels=["venue", "district", "category"]
        )
        capacity = GaugeMetricFamily(
            "occupancy_capacity", "Capacity now", labels=["venue", "district", "category"]
        )
        for code, district, category, count, cap in self.rows:
            people.add_metric([code, district, category], count)
            capacity.add_metric([code, district, category], cap)
        yield people
        yield capacity
        # All venues together (a venue's line is its manager's to see): a city-wide queue.
        yield GaugeMetricFamily(
            "occupancy_line_waiting", "Parties waiting in the venues' lines now (not those "
            "offered places), all venues together", value=self.line_waiting)


def render(occupancy_rows: list[tuple[str, str, str, int, int]], line_waiting: int = 0) -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        counters = generate_latest(registry)
    else:
        counters = generate_latest(REGISTRY)
    live = CollectorRegistry()
    live.register(_Occupancy(occupancy_rows, line_waiting))
    return counters + generate_latest(live)


async def watch_event_loop(interval: float = 0.1) -> None:
    """Observe how late the loop wakes this task: a long CPU-bound step delays everything else."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval
        await asyncio.sleep(interval)
        EVENT_LOOP_LAG_SECONDS.observe(max(0.0, loop.time() - due))


def dependency_of(exc: BaseException) -> str:
    """Which dependency raised ``exc``: "redis", "sql" or "other" (a bare timeout or socket error)."""
    module = type(exc).__module__.split(".", 1)[0]
    if module == "redis":
        return "redis"
    return "sql" if module in ("sqlalchemy", "asyncpg", "aiosqlite", "sqlite3", "psycopg") else "other"


class LatencyMiddleware:
    """Pure ASGI middleware timing each request by its route template (not its raw path), and
    counting the WebSockets open (accepted and not yet ended)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "websocket":
            await self._socket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            REQUEST_SECONDS.labels(scope["method"], path).observe(time.perf_counter() - start)

    async def _socket(self, scope, receive, send) -> None:
        accepted = False

        async def counted(message) -> None:
            nonlocal accepted
            if message["type"] == "websocket.accept" and not accepted:
                accepted = True
                OPEN_SOCKETS.inc()
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            # A socket the app handed over (occupancy.live.wire) is counted down when it closes.
            if accepted and not scope.get(wire.DETACHED):
                OPEN_SOCKETS.dec()
