"""Check-in and check-out skip FastAPI's middleware stack: the same answers, errors and metric."""

from prometheus_client import REGISTRY

from tests.visits.helpers import visitor

ROUTE = "/api/venues/{code}/check-ins"


def served(route: str) -> float:
    labels = {"method": "POST", "route": route}
    return REGISTRY.get_sample_value("occupancy_request_seconds_count", labels) or 0.0


async def test_an_unexpected_failure_is_a_500_in_json_and_logged(client, services, make_venue,
                                                                 monkeypatch, caplog):
    _, code = await make_venue()

    async def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(services.visits, "check_in", broken)
    before = served(ROUTE)
    answer = await client.post(f"/api/venues/{code}/check-ins", json=visitor())

    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "try again" in answer.json()["error"]["message"]
    assert "POST /api/venues/{code}/check-ins failed" in caplog.text and "a bug" in caplog.text
    assert served(ROUTE) == before + 1


async def test_hot_routes_answer_and_are_timed_by_route_template(client, make_venue):
    _, code = await make_venue()
    before_in, before_out = served(ROUTE), served("/api/tickets/{ticket}/check-out")

    checked_in = await client.post(f"/api/venues/{code}/check-ins", json=visitor())
    checked_out = await client.post(f"/api/tickets/{checked_in.json()['ticket']}/check-out")
    unknown = await client.post(f"/api/venues/{code}x/check-ins", json=visitor())

    assert (checked_in.status_code, checked_out.status_code) == (201, 200)
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "forged_venue_code"
    assert served(ROUTE) == before_in + 2
    assert served("/api/tickets/{ticket}/check-out") == before_out + 1
