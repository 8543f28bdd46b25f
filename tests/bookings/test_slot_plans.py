"""A venue run by time slots: its manager sets, reads and removes the plan; anyone lists a day's
free slots; bad plans and days are refused with a stable code and change nothing."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from occupancy.bookings import plans
from occupancy.bookings.schedule import Plan
from occupancy.stats.calendar import local_date

JAKARTA = ZoneInfo("Asia/Jakarta")
PLAN = {"starts": ["07:00", "09:00", "11:00"], "slot_minutes": 120, "capacity": 40,
        "advance_percent": 75, "hold_minutes": 20, "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "days_ahead": 3}


def today() -> date:
    return local_date(datetime.now(UTC).timestamp(), JAKARTA)


async def test_a_manager_runs_a_venue_by_slots_and_visitors_see_a_days_free_slots(
    client, make_venue, issue_token
):
    venue, signed = await make_venue(capacity=100, category="park")
    manager = await issue_token("manager", venue.id)
    assert (await client.get(f"/api/venues/{venue.id}/slots", headers=manager)).json()["error"][
        "code"] == "no_slots"
    assert (await client.get(f"/api/venues/{signed}/free-slots")).status_code == 404

    put = await client.put(f"/api/venues/{venue.id}/slots", json=PLAN, headers=manager)
    assert put.status_code == 200, put.text
    expected = {"venue_id": venue.id, "ranges": ["07:00-09:00", "09:00-11:00", "11:00-13:00"],
                "weekdays": [1, 2, 3, 4, 5, 6, 7], "capacity": 40, "advance_percent": 75,
                "bookable": 30, "hold_minutes": 20, "days_ahead": 3, "per_phone": 1}
    assert put.json() == expected
    assert (await client.get(f"/api/venues/{venue.id}/slots", headers=manager)).json() == expected
    staff = await issue_token("staff", venue.id)
    assert (await client.get(f"/api/venues/{venue.id}/slots", headers=staff)).json() == expected

    tomorrow = today() + timedelta(days=1)
    listed = await client.get(f"/api/venues/{signed}/free-slots", params={"date": str(tomorrow)})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert (body["date"], body["open"], body["venue"]["code"]) == (str(tomorrow), True, venue.code)
    assert [(s["slot"], s["start"], s["end"], s["free"], s["capacity"]) for s in body["slots"]] == [
        (f"{tomorrow:%Y%m%d}-0700", "07:00", "09:00", 30, 40),
        (f"{tomorrow:%Y%m%d}-0900", "09:00", "11:00", 30, 40),
        (f"{tomorrow:%Y%m%d}-1100", "11:00", "13:00", 30, 40),
    ]
    # Local 07:00 in Jakarta is 00:00 UTC.
    assert body["slots"][0]["starts_at"] == f"{tomorrow}T00:00:00+00:00"

    # A new plan replaces the old one whole: explicit ranges, weekends only.
    weekends = {"ranges": ["08:00-10:00", "13:00-15:30"], "capacity": 100, "weekdays": [6, 7]}
    changed = await client.put(f"/api/venues/{venue.id}/slots", json=weekends, headers=manager)
    assert changed.json()["ranges"] == ["08:00-10:00", "13:00-15:30"]
    assert (changed.json()["advance_percent"], changed.json()["days_ahead"]) == (100, 7)
    saturday = today() + timedelta(days=(6 - today().isoweekday()) % 7 or 7)
    monday = saturday + timedelta(days=2)
    on_saturday = (await client.get(f"/api/venues/{signed}/free-slots",
                                    params={"date": str(saturday)})).json()
    assert [s["start"] for s in on_saturday["slots"]] == ["08:00", "13:00"]
    closed = (await client.get(f"/api/venues/{signed}/free-slots",
                               params={"date": str(monday)})).json()
    assert (closed["open"], closed["slots"]) == (False, [])

    assert (await client.delete(f"/api/venues/{venue.id}/slots", headers=manager)).status_code == 204
    assert (await client.get(f"/api/venues/{signed}/free-slots")).json()["error"]["code"] == "no_slots"
    again = await client.delete(f"/api/venues/{venue.id}/slots", headers=manager)
    assert (again.status_code, again.json()["error"]["code"]) == (404, "no_slots")


BAD_PLANS = [
    ({"capacity": 10}, "ranges", "either ranges"),
    ({"capacity": 10, "ranges": ["07:00-09:00"], "starts": ["07:00"]}, "ranges", "either ranges"),
    ({"capacity": 10, "starts": ["07:00"]}, "slot_minutes", "need slot_minutes"),
    ({"capacity": 10, "ranges": ["7-9"]}, "ranges", "HH:MM"),
    ({"capacity": 10, "ranges": ["07:00"]}, "ranges", "HH:MM-HH:MM"),
    ({"capacity": 10, "ranges": ["09:00-07:00"]}, "ranges", "at least 5 minutes"),
    ({"capacity": 10, "ranges": ["07:00-09:00", "08:30-10:00"]}, "ranges", "overlap at 08:30"),
    ({"capacity": 10, "starts": ["23:00"], "slot_minutes": 120}, "starts", "after 23:59"),
    ({"capacity": 10, "starts": ["25:00"], "slot_minutes": 60}, "starts", "HH:MM"),
    ({"capacity": 10, "starts": ["07:00"], "slot_minutes": 2}, "slot_minutes", "5 minutes"),
    ({"capacity": 10, "ranges": []}, "ranges", "between 1 and 48"),
    ({"capacity": 0, "ranges": ["07:00-09:00"]}, "capacity", "venue's capacity (50)"),
    ({"capacity": 51, "ranges": ["07:00-09:00"]}, "capacity", "venue's capacity (50)"),
    ({"capacity": 10, "ranges": ["07:00-09:00"], "advance_percent": 101}, "advance_percent", "0 to 100"),
    ({"capacity": 10, "ranges": ["07:00-07:30"], "hold_minutes": 45}, "hold_minutes", "30 minutes"),
    ({"capacity": 10, "ranges": ["07:00-09:00"], "hold_minutes": 0}, "hold_minutes", "1 to 240"),
    ({"capacity": 10, "ranges": ["07:00-09:00"], "weekdays": [0]}, "weekdays", "1 (Monday)"),
    ({"capacity": 10, "ranges": ["07:00-09:00"], "weekdays": []}, "weekdays", "at least one"),
    ({"capacity": 10, "ranges": ["07:00-09:00"], "days_ahead": 61}, "days_ahead", "0 to 60"),
    ({"capacity": 10, "ranges": ["07:00-09:00"], "per_phone": 0}, "per_phone", "1 to 20"),
]


@pytest.mark.parametrize(("body", "field", "message"), BAD_PLANS)
async def test_a_bad_plan_is_refused_and_changes_nothing(client, make_venue, issue_token, body,
                                                         field, message):
    venue, _ = await make_venue(capacity=50)
    manager = await issue_token("manager", venue.id)
    kept = await client.put(f"/api/venues/{venue.id}/slots", json=PLAN | {"capacity": 50},
                            headers=manager)
    refused = await client.put(f"/api/venues/{venue.id}/slots", json=body, headers=manager)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_slots", field)
    assert message in error["message"]
    assert (await client.get(f"/api/venues/{venue.id}/slots", headers=manager)).json() == kept.json()


async def test_a_day_out_of_reach_or_malformed_is_refused(client, make_venue, issue_token):
    venue, signed = await make_venue(capacity=50)
    await client.put(f"/api/venues/{venue.id}/slots", json=PLAN | {"days_ahead": 2},
                     headers=await issue_token("manager", venue.id))
    for day, code in ((today() - timedelta(days=1), "day_past"),
                      (today() + timedelta(days=3), "day_too_far"),
                      ("2026-13-01", "invalid_input"), ("tomorrow", "invalid_input")):
        answer = await client.get(f"/api/venues/{signed}/free-slots", params={"date": str(day)})
        assert answer.status_code == 422, answer.text
        assert (answer.json()["error"]["code"], answer.json()["error"]["field"]) == (code, "date")
    furthest = await client.get(f"/api/venues/{signed}/free-slots",
                                params={"date": str(today() + timedelta(days=2))})
    assert furthest.status_code == 200 and len(furthest.json()["slots"]) == 3
    forged = await client.get(f"/api/venues/{signed[:-1]}x/free-slots")
    assert forged.json()["error"]["code"] == "forged_venue_code"


async def test_only_the_venues_manager_changes_its_plan(client, make_venue, issue_token):
    venue, _ = await make_venue(capacity=50)
    other, _ = await make_venue(capacity=50)
    for token in (await issue_token("staff", venue.id), await issue_token("manager", other.id)):
        refused = await client.put(f"/api/venues/{venue.id}/slots", json=PLAN, headers=token)
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    manager = await issue_token("manager", venue.id)
    assert (await client.get(f"/api/venues/{venue.id}/slots", headers=manager)).status_code == 404


def test_slots_close_for_booking_when_their_hold_runs_out():
    plan = Plan(venue_id=1, ranges=((time(7), time(9)), (time(9), time(11))), weekdays="1234567",
                capacity=10, advance_percent=50, hold_minutes=15, days_ahead=7)
    day = date(2026, 12, 7)
    at = lambda hour, minute: datetime(2026, 12, 7, hour, minute, tzinfo=JAKARTA)  # noqa: E731
    keys = lambda now: [s.key for s in plans.open_slots(plan, day, now, JAKARTA)]  # noqa: E731
    assert keys(at(6, 0)) == ["20261207-0700", "20261207-0900"]
    assert keys(at(7, 14)) == ["20261207-0700", "20261207-0900"]  # still claimable at the door
    assert keys(at(7, 15)) == ["20261207-0900"]
    assert keys(at(9, 15)) == []
    assert plan.bookable == 5
    assert plan.slot("20261207-0900", JAKARTA).ends_at == at(11, 0)
    for unknown in ("20261207-0800", "20261307-0700", "2026120-0700", "20261207-0700x", ""):
        assert plan.slot(unknown, JAKARTA) is None
