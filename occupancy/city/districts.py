"""The city's districts for the officials' map: a GeoJSON FeatureCollection read from
``OCCUPANCY_CITY_MAP`` (by default ``demo_districts.geojson`` beside this module: schematic shapes
drawn around the demo seed's district centres, not surveyed boundaries).

Read once per process and answered as encoded bytes: the map is drawn in the page from these
shapes, so no map service is asked anything at run time.
"""

import json
import logging
from functools import lru_cache
from pathlib import Path

from occupancy.errors import DomainError

log = logging.getLogger(__name__)

_SHAPES = ("Polygon", "MultiPolygon")


class CityMapUnreadable(DomainError):
    status = 500
    code = "city_map_unreadable"
    message = ("The city's district map could not be read: the operator should check the file "
               "OCCUPANCY_CITY_MAP names.")


class BadCityMap(ValueError):
    """The file is no FeatureCollection of named district shapes."""


def districts(geojson: object) -> dict:
    """The districts of a FeatureCollection, keeping only what the map draws: each feature's
    ``name`` and its Polygon or MultiPolygon (a real city's file may carry much more)."""
    if not isinstance(geojson, dict) or geojson.get("type") != "FeatureCollection":
        raise BadCityMap("it is not a GeoJSON FeatureCollection")
    features = []
    for number, feature in enumerate(geojson.get("features") or []):
        geometry = (feature or {}).get("geometry") or {}
        name = ((feature or {}).get("properties") or {}).get("name")
        if not isinstance(name, str) or geometry.get("type") not in _SHAPES \
                or not isinstance(geometry.get("coordinates"), list):
            raise BadCityMap(f"feature {number} is not a Polygon or MultiPolygon with a name")
        features.append({"type": "Feature", "properties": {"name": name},
                         "geometry": {"type": geometry["type"], "coordinates": geometry["coordinates"]}})
    return {"type": "FeatureCollection", "features": features}


@lru_cache(maxsize=4)
def encoded(path: Path) -> bytes:
    """The districts of the file at ``path``, as JSON bytes."""
    try:
        shapes = districts(json.loads(path.read_bytes()))
    except (OSError, ValueError) as exc:  # unreadable, not JSON, or BadCityMap
        log.error("the city map %s cannot be drawn: %s", path, exc)
        raise CityMapUnreadable() from exc
    return json.dumps(shapes, separators=(",", ":")).encode()
