"""The one crowd-level rule, and that the API, the dashboards' frames and the city agree on it."""

import pytest

from occupancy import redis_keys as keys
from occupancy.live import frames
from occupancy.venues.service import VenueInfo
from occupancy.visits.crowd import crowd_level


@pytest.mark.parametrize(("count", "capacity", "level"), [
    (0, 10, "low"), (7, 10, "low"), (8, 10, "busy"), (9, 10, "busy"), (10, 10, "full"),
    (12, 10, "full"), (0, 1, "low"), (1, 1, "full"),
])
def test_low_under_80_percent_busy_from_80_full_at_capacity(count, capacity, level):
    assert crowd_level(count, capacity) == level


def test_a_capacity_of_0_admits_nobody_so_it_is_full():
    assert crowd_level(0, 0) == "full"
    assert crowd_level(3, 0) == "full"


def test_the_level_is_unknown_while_the_count_or_the_capacity_is_not_known():
    assert crowd_level(None, 10) == "unknown"
    assert crowd_level(4, None) == "unknown"


def venue(capacity: int, district: str = "Karawaci") -> VenueInfo:
    return VenueInfo(id=1, code="kios", name="Kios", district=district, category="shop",
                     capacity=capacity, max_party=6, max_stay_minutes=120, paused=False,
                     fever_threshold=37.5)


def test_frames_and_city_groups_send_the_same_level_for_a_capacity_of_0():
    display = frames.display_frame(venue(0), 0, 0, False, at=0.0)
    city = frames.city_aggregates([frames.CityVenue(venue(0), 0, 0, False)])
    assert display["level"] == "full"
    assert city["totals"]["level"] == city["by_district"]["Karawaci"]["level"] == "full"
    assert city["by_category"]["shop"]["level"] == "full"


async def test_the_api_says_full_for_a_venue_whose_capacity_is_0(client, make_venue, services):
    venue_row, code = await make_venue(capacity=5)
    # The API refuses a capacity below 1; a venue can still hold 0 in Redis (written directly).
    await services.redis.hset(keys.config(venue_row.id), "capacity", 0)
    body = (await client.get(f"/api/venues/{code}/occupancy")).json()
    assert (body["capacity"], body["level"]) == (0, "full")
