"""Where a venue is: set, changed and cleared by its manager as a latitude and longitude pair;
out-of-range or half locations are refused with ``invalid_location`` and change nothing."""

import pytest

from occupancy.errors import InvalidInput
from occupancy.venues import service

BAD = [
    ({"latitude": 91, "longitude": 106.6}, "latitude", "between -90 and 90"),
    ({"latitude": -90.5, "longitude": 106.6}, "latitude", "between -90 and 90"),
    ({"latitude": -6.2, "longitude": 180.01}, "longitude", "between -180 and 180"),
    ({"latitude": -6.2, "longitude": -181}, "longitude", "between -180 and 180"),
    ({"latitude": -6.2}, "longitude", "both latitude and longitude"),
    ({"longitude": 106.6, "capacity": 20}, "latitude", "both latitude and longitude"),
    ({"latitude": None}, "longitude", "both latitude and longitude"),
    ({"latitude": -6.2, "longitude": None}, "longitude", "both latitude and longitude"),
]


async def test_a_manager_places_moves_and_clears_the_venue(client, make_venue, issue_token):
    venue, _ = await make_venue(capacity=10)
    manager = await issue_token("manager", venue.id)
    url = f"/api/venues/{venue.id}"
    unplaced = (await client.get(url, headers=manager)).json()
    assert (unplaced["latitude"], unplaced["longitude"]) == (None, None)

    placed = await client.patch(url, json={"latitude": -6.178, "longitude": 106.631}, headers=manager)
    assert placed.status_code == 200, placed.text
    assert (placed.json()["latitude"], placed.json()["longitude"]) == (-6.178, 106.631)
    # Other changes leave the location alone.
    await client.patch(url, json={"capacity": 12}, headers=manager)
    kept = (await client.get(url, headers=manager)).json()
    assert (kept["latitude"], kept["longitude"], kept["capacity"]) == (-6.178, 106.631, 12)
    # The edges of the world are places too.
    edge = await client.patch(url, json={"latitude": -90, "longitude": 180}, headers=manager)
    assert (edge.json()["latitude"], edge.json()["longitude"]) == (-90, 180)

    cleared = await client.patch(url, json={"latitude": None, "longitude": None}, headers=manager)
    assert cleared.status_code == 200
    assert (cleared.json()["latitude"], cleared.json()["longitude"]) == (None, None)


@pytest.mark.parametrize(("body", "field", "message"), BAD)
async def test_a_bad_location_is_refused_and_changes_nothing(client, make_venue, issue_token, body,
                                                             field, message):
    venue, _ = await make_venue(capacity=10, latitude=-6.2, longitude=106.6)
    manager = await issue_token("manager", venue.id)
    answer = await client.patch(f"/api/venues/{venue.id}", json=body, headers=manager)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_location", field)
    assert message in error["message"]
    after = (await client.get(f"/api/venues/{venue.id}", headers=manager)).json()
    assert (after["latitude"], after["longitude"], after["capacity"]) == (-6.2, 106.6, 10)


async def test_a_location_that_is_no_number_is_invalid_input(client, make_venue, issue_token):
    venue, _ = await make_venue(capacity=10)
    answer = await client.patch(f"/api/venues/{venue.id}", json={"latitude": "north", "longitude": 1},
                                headers=await issue_token("manager", venue.id))
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", "latitude")


@pytest.mark.parametrize(("body", "field", "message"), [b for b in BAD if None not in b[0].values()])
async def test_a_venue_is_not_created_with_a_bad_location(services, body, field, message):
    location = {k: v for k, v in body.items() if k in ("latitude", "longitude")}
    async with services.sessionmaker() as session:
        with pytest.raises(InvalidInput, match=message) as refused:
            await service.create_venue(session, code="kios", name="Kios", capacity=5, **location)
        assert (refused.value.code, refused.value.details["field"]) == ("invalid_location", field)
        assert await service.list_venues(session) == []


def test_not_a_number_is_no_place():
    with pytest.raises(InvalidInput, match="Latitude"):
        service.validate_location(float("nan"), 106.6)
    with pytest.raises(InvalidInput, match="Longitude"):
        service.validate_location(-6.2, float("inf"))
