"""Locust scenarios: the people of a seeded city using the service at once.

Run it as its own process (locust monkey-patches with gevent; the app and the tests never import
it). Against a running server whose city was seeded with ``occupancy demo --venues N``:

    OCC_TOKEN=<operator token printed by occupancy demo> \\
    uv run --group loadtest locust -f loadtest/locust/locustfile.py --headless \\
        -u 300 -r 50 -t 2m --host http://127.0.0.1:8000 --csv loadtest-out

- shoppers open the venue page, check in with a realistic party size (some retry the same
  request, some find the venue full and try again later), stay a while, check out;
- door staff take temperatures of visitors who are inside (a few have a fever: refused);
- managers hold their venue's dashboard WebSocket open and time the delay from a check-in of
  their own to the update that shows it ("own check-in -> dashboard" in the statistics);
- officials look at the city now and its history.
The token must be an operator's (staff and managers act on any venue); venues are drawn from
``GET /api/city/now`` (up to ``--city-sample`` of them).
"""

import json
import os
import random
import secrets
import time
import urllib.request
from collections import deque
from contextlib import ExitStack
from datetime import datetime

import gevent
from gevent.queue import Empty, Queue
from locust import FastHttpUser, between, events, task
from websockets.sync.client import connect

TOKEN = os.environ.get("OCC_TOKEN", "")
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NAMES = ("Budi Santoso", "Siti Rahayu", "Agus Wijaya", "Dewi Lestari", "Rina Kusuma", "Joko Susilo")
PARTIES = (1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5)

city: list[dict] = []  # {"id", "signed_code", "capacity"} of the venues drawn
inside: deque[str] = deque(maxlen=5000)  # tickets of visitors inside now, for the door staff


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--city-sample", type=int, default=500,
                        help="how many of the city's venues the users visit")


@events.test_start.add_listener
def _load_city(environment, **_) -> None:
    if not TOKEN:
        raise SystemExit("set OCC_TOKEN to an operator token (occupancy demo prints one)")
    host = environment.host.rstrip("/")
    now = _get_json(f"{host}/api/city/now")
    ids = [v["id"] for v in now["venues"]]
    random.shuffle(ids)
    for venue_id in ids[: environment.parsed_options.city_sample]:
        venue = _get_json(f"{host}/api/venues/{venue_id}")
        city.append({"id": venue["id"], "signed_code": venue["signed_code"],
                     "capacity": venue["capacity"], "max_party": venue["max_party"]})
    print(f"locust: {len(city)} of the city's {len(ids)} venues in play")


def _get_json(url: str) -> dict:
    request = urllib.request.Request(url, headers=AUTH)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _visitor() -> dict:
    return {"name": random.choice(NAMES), "phone": f"0812{random.randrange(10**8):08d}",
            "idempotency_key": secrets.token_urlsafe(18)}


class Shopper(FastHttpUser):
    weight = 20
    wait_time = between(1, 5)

    @task
    def visit(self) -> None:
        venue = random.choice(city)
        self.client.get(f"/v/{venue['signed_code']}", name="/v/[venue] page")
        self.client.get(f"/api/venues/{venue['signed_code']}/occupancy", name="/api/venues/[venue]/occupancy")
        body = _visitor() | {"party_size": min(random.choice(PARTIES), venue["max_party"])}
        ticket = None
        for _attempt in range(3):  # full: the page says retry later; a shopper tries twice more
            ticket = self.check_in(venue, body)
            if ticket != "full":
                break
            gevent.sleep(random.uniform(1, 3))
        if ticket in (None, "full"):
            return
        inside.append(ticket)
        gevent.sleep(random.uniform(2, 20))  # the stay
        with self.client.post("/api/check-outs", json={"ticket": ticket},
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"check-out: {response.status_code} {response.text[:200]}")

    def check_in(self, venue: dict, body: dict) -> str | None:
        path = f"/api/venues/{venue['signed_code']}/check-ins"
        with self.client.post(path, json=body, name="/api/venues/[venue]/check-ins",
                              catch_response=True) as response:
            if response.status_code == 409 and "venue_full" in response.text:
                response.success()
                return "full"
            if response.status_code not in (200, 201):
                response.failure(f"check-in: {response.status_code} {response.text[:200]}")
                return None
            ticket = response.json()["ticket"]
        if random.random() < 0.05:  # a retried tap (flaky network): same key, same ticket
            with self.client.post(path, json=body, name="/api/venues/[venue]/check-ins (retry)",
                                  catch_response=True) as again:
                if again.status_code != 200 or again.json().get("ticket") != ticket:
                    again.failure(f"retry did not replay the ticket: {again.status_code}")
        return ticket


class DoorStaff(FastHttpUser):
    weight = 2
    wait_time = between(0.5, 2)

    @task
    def screen(self) -> None:
        try:
            ticket = inside.popleft()
        except IndexError:
            return
        temperature = 38.2 if random.random() < 0.03 else round(random.uniform(35.8, 37.2), 1)
        venue_id = ticket.split(".", 1)[0]  # a ticket starts with its venue's id
        with self.client.post(f"/api/venues/{venue_id}/screenings",
                              json={"ticket": ticket, "temperature": temperature},
                              headers=AUTH, name="/api/venues/[id]/screenings",
                              catch_response=True) as response:
            # The visitor may have left already: the visit has ended (409) is a fair answer.
            if response.status_code == 409:
                response.success()
            elif response.status_code != 200:
                response.failure(f"screening: {response.status_code} {response.text[:200]}")


class Manager(FastHttpUser):
    """Holds the dashboard socket of one venue and times its own check-ins reaching it."""

    weight = 1
    wait_time = between(2, 5)

    def on_start(self) -> None:
        self.venue = random.choice(city)
        ws_url = self.host.replace("http", "ws", 1) + f"/ws/venues/{self.venue['id']}"
        self.frames: Queue = Queue()
        self.stack = ExitStack()
        self.socket = self.stack.enter_context(connect(
            ws_url, open_timeout=30, additional_headers={"Authorization": f"Bearer {TOKEN}"}))
        snapshot = json.loads(self.socket.recv(timeout=30))
        assert snapshot["type"] == "snapshot", snapshot
        self.reader = gevent.spawn(self._read)

    def _read(self) -> None:
        try:
            for message in self.socket:
                self.frames.put((time.perf_counter(), json.loads(message)))
        except Exception:  # closed
            pass

    def on_stop(self) -> None:
        self.stack.close()
        self.reader.kill()

    @task
    def own_check_in(self) -> None:
        while not self.frames.empty():
            self.frames.get_nowait()
        body = _visitor() | {"party_size": 1}
        sent = time.perf_counter()
        response = self.client.post(f"/api/venues/{self.venue['signed_code']}/check-ins", json=body,
                                    name="/api/venues/[venue]/check-ins (manager)")
        if response.status_code != 201:
            return
        visit = response.json()
        at = datetime.fromisoformat(visit["checked_in_at"]).timestamp()
        deadline = sent + 5
        seen = False
        while not seen and time.perf_counter() < deadline:
            try:
                received, frame = self.frames.get(timeout=deadline - time.perf_counter())
            except Empty:
                break
            # Our event is the "in" of our party at our check-in time, in the frame's recent list.
            seen = any(e.get("event") == "in" and abs(float(e.get("at", 0)) - at) < 0.002
                       for e in frame.get("recent", ()))
        events.request.fire(
            request_type="WS", name="own check-in -> dashboard update",
            response_time=((received if seen else time.perf_counter()) - sent) * 1000,
            response_length=0, exception=None if seen else TimeoutError("no update within 5 s"),
            context={},
        )
        self.client.post("/api/check-outs", json={"ticket": visit["ticket"]})


class Official(FastHttpUser):
    weight = 1
    wait_time = between(3, 8)

    def on_start(self) -> None:
        # An official's session opens on the city view, then browses.
        self.city_now()

    @task(5)
    def city_now(self) -> None:
        self.client.get("/api/city/now", headers=AUTH)

    @task(2)
    def history(self) -> None:
        self.client.get("/api/city/history?by=hour", headers=AUTH)

    @task(1)
    def history_by_day_csv(self) -> None:
        self.client.get("/api/city/history.csv?by=day", headers=AUTH)
