"""What a venue's manager sees of its bookings: a day's figures per slot (booked, claimed,
waiting, no-shows, cancelled, free) as they change, and the bookings of a day range as CSV without
personal data; who may read which. On a single Redis and a cluster, SQLite and PostgreSQL."""

import csv
import io
from datetime import timedelta

from occupancy.bookings.expiry import SlotTimers
from tests.bookings.helpers import JAKARTA
from tests.bookings.test_claims import book, venue_in_its_slot
from tests.bookings.test_expiry import GRACE, slot_times
from tests.redis_kinds import redis_kind  # noqa: F401


def figures(slot: dict) -> tuple:
    return tuple(slot[k] for k in ("bookings", "booked", "claimed", "waiting", "no_shows",
                                   "cancelled", "free"))


async def test_a_days_bookings_per_slot_follow_bookings_claims_cancellations_and_expiry(
    client, services, make_venue, issue_token
):
    venue, signed, manager, slot, later = await venue_in_its_slot(
        client, make_venue, issue_token, capacity=20, advance_percent=50)
    day = f"{slot[:4]}-{slot[4:6]}-{slot[6:8]}"
    claimed, expiring = await book(client, signed, slot, 1, 2), await book(client, signed, slot, 2, 3)
    cancelled = await book(client, signed, slot, 3, 1)
    await book(client, signed, later, 4, 4)

    async def view() -> dict:
        answer = await client.get(f"/api/venues/{venue.id}/slot-bookings", headers=manager,
                                  params={"date": day})
        assert answer.status_code == 200, answer.text
        return answer.json()

    first = await view()
    assert [s["slot"] for s in first["slots"]] == [slot, later]
    assert [figures(s) for s in first["slots"]] == [(3, 6, 0, 6, 0, 0, 4), (1, 4, 0, 4, 0, 0, 6)]
    assert (first["open"], first["bookable"], first["slots"][0]["capacity"]) == (True, 10, 20)

    assert (await client.post("/api/booking-cancellations",
                              json={"booking": cancelled})).status_code == 200
    assert (await client.post(f"/api/venues/{signed}/check-ins",
                              json={"booking": claimed})).status_code == 201
    assert figures((await view())["slots"][0]) == (2, 5, 2, 3, 0, 1, 5)

    hold_ends = slot_times(slot)[0] + timedelta(minutes=30)
    assert (await SlotTimers(services.bookings, services.visits, GRACE).run(hold_ends))[0] == 1
    last = await view()
    assert figures(last["slots"][0]) == (2, 5, 2, 0, 3, 1, 5)
    assert last["totals"] == {"bookings": 3, "booked": 9, "claimed": 2, "waiting": 4,
                              "no_shows": 3, "cancelled": 1, "free": 11}

    # Door staff read the figures too; another venue's manager does not.
    staff = await issue_token("staff", venue.id)
    other, _ = await make_venue(capacity=5)
    stranger = await issue_token("manager", other.id)
    url = f"/api/venues/{venue.id}/slot-bookings"
    assert (await client.get(url, headers=staff)).status_code == 200
    assert (await client.get(url, headers=stranger)).status_code == 403
    assert (await client.get(f"/api/venues/{other.id}/slot-bookings",
                             headers=stranger)).json()["error"]["code"] == "no_slots"
    bad = await client.get(url, headers=manager, params={"date": "7/12/2026"})
    assert (bad.status_code, bad.json()["error"]["code"], bad.json()["error"]["field"]) == (
        422, "invalid_input", "date")
    assert expiring  # its code is never shown to the manager, only its figures


async def test_bookings_export_as_csv_without_personal_data_for_a_day_range(
    client, services, make_venue, issue_token
):
    venue, signed, manager, slot, later = await venue_in_its_slot(
        client, make_venue, issue_token, capacity=20)
    day = f"{slot[:4]}-{slot[4:6]}-{slot[6:8]}"
    claimed = await book(client, signed, slot, 1, 2)
    await book(client, signed, later, 2, 3)
    cancelled = await book(client, signed, later, 3, 1)
    await client.post("/api/booking-cancellations", json={"booking": cancelled})
    assert (await client.post(f"/api/venues/{signed}/check-ins",
                              json={"booking": claimed})).status_code == 201

    url = f"/api/venues/{venue.id}/bookings.csv"
    answer = await client.get(url, headers=manager, params={"from": day, "to": day})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert f'filename="bookings-{venue.code}-{day}-{day}.csv"' in answer.headers[
        "content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["slot_day"], r["slot_start"], r["party_size"], r["state"]) for r in rows] == [
        (day, f"{slot[9:11]}:{slot[11:]}", "2", "claimed"),
        (day, f"{later[9:11]}:{later[11:]}", "3", "booked"),
        (day, f"{later[9:11]}:{later[11:]}", "1", "cancelled")]
    assert rows[0]["claimed_at"] and rows[2]["cancelled_at"] and not rows[1]["claimed_at"]
    assert rows[0]["booked_at"].endswith("+07:00")  # the city's time, as the visits' CSV
    for personal in ("Siti", "Rahma", "0812", "5555", "example.id", claimed, cancelled):
        assert personal not in answer.text

    # Today by default; a day of days in the past holds none; a bad range is a 422.
    assert len(list(csv.DictReader(io.StringIO(  # the test's slots are today's
        (await client.get(url, headers=manager)).text)))) == 3
    past = (slot_times(slot)[0].astimezone(JAKARTA).date() - timedelta(days=9)).isoformat()
    assert (await client.get(url, headers=manager, params={"from": past, "to": past})).text == (
        ",".join(("slot_day", "slot_start", "slot_end", "party_size", "state", "booked_at",
                  "claimed_at", "cancelled_at", "expired_at")) + "\r\n")
    backwards = await client.get(url, headers=manager, params={"from": day, "to": past})
    assert (backwards.status_code, backwards.json()["error"]["code"]) == (422, "invalid_input")
    # Who may export the visits may export the bookings: not door staff.
    staff = await issue_token("staff", venue.id)
    assert (await client.get(url, headers=staff)).status_code == 403
    assert (await client.get(url, headers=await issue_token("official"))).status_code == 200


async def test_dashboards_are_told_on_their_socket_when_bookings_change(
    live_server, make_venue, issue_token
):
    """Booked, cancelled, claimed (on either worker process): the manager's next frame says
    ``bookings_changed``, so the page reads the figures again; a walk-in's frame does not."""
    import httpx

    from tests.live.test_sockets import frame_where, next_frame, open_socket, token_of

    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        venue, signed, manager, slot, _ = await venue_in_its_slot(
            http, make_venue, issue_token, capacity=20)
        async with open_socket(live_server, f"/ws/venues/{venue.id}", token_of(manager)) as ws:
            assert (await next_frame(ws, 20))["type"] == "snapshot"
            walk_in = await http.post(f"/api/venues/{signed}/check-ins", json={
                "name": "Budi", "phone": "0813 7777 0001", "party_size": 1})
            assert walk_in.status_code == 201
            frame = await frame_where(ws, lambda f: f.get("count") == 1, 20)
            assert "bookings_changed" not in frame
            code = await book(http, signed, slot, 1, 2)
            frame = await frame_where(ws, lambda f: f.get("bookings_changed"), 20)
            assert frame["count"] == 1  # a booking takes no place inside
            assert (await http.post(f"/api/venues/{signed}/check-ins",
                                    json={"booking": code})).status_code == 201
            seen: set = set()  # the claim's count and its notice, in one frame or two
            await frame_where(ws, lambda f: seen.update(
                {"count"} if f.get("count") == 3 else set(),
                {"notice"} if f.get("bookings_changed") else set()) or len(seen) == 2, 20)
            other = await book(http, signed, slot, 2, 1)
            await frame_where(ws, lambda f: f.get("bookings_changed"), 20)
            assert (await http.post("/api/booking-cancellations",
                                    json={"booking": other})).status_code == 200
            await frame_where(ws, lambda f: f.get("bookings_changed"), 20)
