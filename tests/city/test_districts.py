"""The city's district map: only signed-in city staff get it, it is the file OCCUPANCY_CITY_MAP
names (the demo city's schematic shapes by default), and a file the map cannot draw is a clear
error, never a half map."""

import json

import pytest

from occupancy.city import districts
from occupancy.demo import DISTRICTS, demo_venues, location
from occupancy.settings import Settings


def inside(point: tuple[float, float], ring: list[list[float]]) -> bool:
    """Ray casting: whether (longitude, latitude) lies inside a closed ring."""
    x, y = point
    crossings = 0
    for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            crossings += 1
    return crossings % 2 == 1


def demo_shapes() -> dict[str, list[list[float]]]:
    shapes = json.loads(districts.encoded(Settings().city_map))
    return {f["properties"]["name"]: f["geometry"]["coordinates"][0] for f in shapes["features"]}


async def test_only_city_staff_get_the_district_map(client, make_venue, issue_token):
    venue, _ = await make_venue()
    anonymous = await client.get("/api/city/map")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
    for role in ("manager", "staff"):
        refused = await client.get("/api/city/map", headers=await issue_token(role, venue.id))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    for role in ("official", "operator"):
        answer = await client.get("/api/city/map", headers=await issue_token(role))
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/geo+json"
        shapes = answer.json()
        assert shapes["type"] == "FeatureCollection"
        assert sorted(f["properties"]["name"] for f in shapes["features"]) == sorted(DISTRICTS)


def test_every_demo_venue_stands_inside_its_districts_shape():
    shapes = demo_shapes()
    for venue in demo_venues(500):
        latitude, longitude = location(venue)
        assert inside((longitude, latitude), shapes[venue.district]), venue.code
        others = [name for name, ring in shapes.items() if inside((longitude, latitude), ring)]
        assert others == [venue.district], venue.code  # the shapes do not overlap there


def test_the_shipped_shapes_say_they_are_schematic():
    shipped = json.loads(Settings().city_map.read_text())
    assert "not surveyed" in shipped["description"]


def test_the_map_is_the_file_the_setting_names_with_only_what_is_drawn(tmp_path, monkeypatch):
    square = [[[106.6, -6.2], [106.7, -6.2], [106.7, -6.1], [106.6, -6.1], [106.6, -6.2]]]
    path = tmp_path / "city.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "name": "Kota Contoh", "features": [
        {"type": "Feature", "id": 7, "properties": {"name": "Alun-alun", "population": 41000},
         "geometry": {"type": "Polygon", "coordinates": square}},
        {"type": "Feature", "properties": {"name": "Pulau"},
         "geometry": {"type": "MultiPolygon", "coordinates": [square]}},
    ]}))
    monkeypatch.setenv("OCCUPANCY_CITY_MAP", str(path))
    assert Settings().city_map == path
    assert json.loads(districts.encoded(path)) == {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "Alun-alun"},
         "geometry": {"type": "Polygon", "coordinates": square}},
        {"type": "Feature", "properties": {"name": "Pulau"},
         "geometry": {"type": "MultiPolygon", "coordinates": [square]}},
    ]}


@pytest.mark.parametrize("content", [
    "", "not json", json.dumps({"type": "Feature"}),
    json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": []}}]}),
    json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "Titik"},
         "geometry": {"type": "Point", "coordinates": [106.6, -6.2]}}]}),
])
def test_a_map_that_cannot_be_drawn_is_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.geojson"
    path.write_text(content)
    with pytest.raises(districts.CityMapUnreadable) as refused:
        districts.encoded(path)
    assert refused.value.code == "city_map_unreadable" and "OCCUPANCY_CITY_MAP" in refused.value.message
    with pytest.raises(districts.CityMapUnreadable):
        districts.encoded(tmp_path / "missing.geojson")
