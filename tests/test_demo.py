"""The demo city: a newcomer's first run (``occupancy demo``) and the load tests' many venues."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from occupancy import redis_keys as keys
from occupancy.demo import CENTRES, DISTRICTS, NAMED, SCATTER, generated, location, seed_demo_city
from occupancy.venues import service, signing
from tests.conftest import SECRET

CAPACITY_RANGES = {"mall": (1500, 5000), "shop": (30, 150), "market": (300, 800),
                   "park": (500, 2000), "station": (400, 1200), "office": (50, 1000)}
URL = re.compile(r"(https?://\S+/v/(\S+))")
TOKEN = re.compile(r"^\s+(operator|official|manager|staff)\s+(\S*)\s+(occ_\S+)$", re.M)


async def venue_rows(services) -> list[tuple]:
    async with services.sessionmaker() as session:
        return [(v.id, v.code, v.name, v.category, v.district, v.capacity)
                for v in await service.list_venues(session)]


async def test_seeding_twice_gives_the_same_city(services):
    first = await seed_demo_city(services)
    venues = await venue_rows(services)
    second = await seed_demo_city(services)

    assert await venue_rows(services) == venues
    assert len(venues) == len(NAMED) == 12
    assert "(12 added now)" in first[0] and "(0 added now)" in second[0]
    assert {row[3] for row in venues} == set(service.CATEGORIES)
    assert {row[4] for row in venues} == set(DISTRICTS)
    for _, code, _, category, _, capacity in venues:
        low, high = CAPACITY_RANGES[category]
        assert low <= capacity <= high, code


async def test_redis_enforces_every_demo_venues_capacity(services):
    await seed_demo_city(services, tokens=False)
    for venue_id, code, _, _, _, capacity in await venue_rows(services):
        config = await services.redis.hgetall(keys.config(venue_id))
        assert config == {b"capacity": str(capacity).encode(), b"paused": b"0"}, code


async def test_seed_prints_working_visitor_urls_and_tokens(services):
    lines = "\n".join(await seed_demo_city(services))
    venues = await venue_rows(services)

    urls = URL.findall(lines)
    assert [signing.verify(SECRET, signed) for _, signed in urls] == [row[1] for row in venues]
    assert all(url.startswith("http://testserver/v/") for url, _ in urls)

    tokens = TOKEN.findall(lines)
    assert [role for role, _, _ in tokens] == ["operator", "official", "manager", "staff"]
    first_id, first_code = venues[0][0], venues[0][1]
    for role, venue_code, token in tokens:
        principal = await services.tokens.principal(token)
        assert principal.role == role
        if role in ("manager", "staff"):
            assert venue_code == first_code and principal.venue_id == first_id
    manager = await services.tokens.principal(tokens[2][2])
    assert manager.may_manage(first_id) and not manager.may_manage(venues[1][0])


async def test_a_larger_city_is_generated_deterministically(services):
    await seed_demo_city(services, tokens=False)
    lines = await seed_demo_city(services, venues=300, tokens=False)
    venues = await venue_rows(services)

    assert "(288 added now)" in lines[0]
    assert "... and 270 more" in lines[-1]
    assert [row[1] for row in venues[:12]] == [v.code for v in NAMED]
    assert [row[1] for row in venues[12:]] == [generated(n).code for n in range(13, 301)]
    assert venues[12][1].endswith("-0013") and venues[-1][1].endswith("-0300")
    assert generated(13) == generated(13)
    for _, code, name, category, district, capacity in venues[12:]:
        assert code.startswith(f"{category}-") and name and district in DISTRICTS
        low, high = CAPACITY_RANGES[category]
        assert low <= capacity <= high, code
    assert {row[3] for row in venues[12:]} == set(service.CATEGORIES)
    last = venues[-1][0]
    assert await services.redis.hget(keys.config(last), "capacity") == str(venues[-1][5]).encode()

    assert "(0 added now)" in (await seed_demo_city(services, venues=300, tokens=False))[0]
    assert await venue_rows(services) == venues


async def test_every_demo_venue_stands_in_its_district_the_same_place_every_time(services):
    await seed_demo_city(services, venues=300, tokens=False)
    async with services.sessionmaker() as session:
        venues = await service.list_venues(session)
    assert len(venues) == 300
    for venue in venues:
        latitude, longitude = CENTRES[venue.district]
        assert abs(venue.latitude - latitude) <= SCATTER, venue.code
        assert abs(venue.longitude - longitude) <= SCATTER, venue.code
        # The demo city is Tangerang-like: all of it within a few kilometres.
        assert -6.26 < venue.latitude < -6.16 and 106.57 < venue.longitude < 106.69, venue.code
    spots = {(v.latitude, v.longitude) for v in venues}
    assert len(spots) == len(venues)  # scattered, not stacked on the centres
    assert (venues[0].latitude, venues[0].longitude) == location(NAMED[0])


async def test_ten_thousand_venues_seed_well_under_a_minute(services):
    started = time.monotonic()
    await seed_demo_city(services, venues=10_000, tokens=False)
    elapsed = time.monotonic() - started

    async with services.sessionmaker() as session:
        assert len(await service.list_venues(session)) == 10_000
    assert elapsed < 40, f"seeding 10,000 venues took {elapsed:.1f}s"


# The command line, as an operator runs it: a subprocess against a SQLite file.


class City:
    """A SQLite file seeded once by ``occupancy demo``; ``run`` runs more commands against it."""

    def __init__(self, folder: Path, redis_url: str) -> None:
        self.folder = folder
        self.env = dict(os.environ)
        self.env.update(
            OCCUPANCY_DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'city.db'}",
            OCCUPANCY_REDIS_URL=redis_url, OCCUPANCY_SECRET_KEY=SECRET,
            OCCUPANCY_PUBLIC_URL="https://checkin.example.id",
        )
        self.seeded = self.run("demo")

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "occupancy.cli", *args], env=self.env,
                              cwd=self.folder, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def city(tmp_path_factory, redis_server) -> City:
    return City(tmp_path_factory.mktemp("city"), redis_server.url)


def test_cli_demo_seeds_once_and_prints_urls_and_tokens(city):
    first = city.seeded
    assert first.returncode == 0, first.stderr
    assert "(12 added now)" in first.stdout
    urls = URL.findall(first.stdout)
    assert [signing.verify(SECRET, signed) for _, signed in urls] == [v.code for v in NAMED]
    assert all(url.startswith("https://checkin.example.id/v/") for url, _ in urls)
    assert [role for role, _, _ in TOKEN.findall(first.stdout)] == [
        "operator", "official", "manager", "staff"]

    again = city.run("demo")
    assert again.returncode == 0, again.stderr
    assert "(0 added now)" in again.stdout
    assert URL.findall(again.stdout) == urls


def test_cli_venue_poster_writes_each_format(city):
    assert city.seeded.returncode == 0
    expected = signing.visitor_url("https://checkin.example.id", SECRET, "pasar-anyar")
    folder = city.folder

    for out in ((), ("--out", str(folder / "poster.svg")), ("-o", str(folder / "poster.PDF"))):
        done = city.run("venue", "poster", "pasar-anyar", *out)
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout
    found = zxingcpp.read_barcodes(Image.open(folder / "poster-pasar-anyar.png"))  # the default
    assert [barcode.text for barcode in found] == [expected]
    assert (folder / "poster.svg").read_bytes().startswith(b"<?xml")
    assert (folder / "poster.PDF").read_bytes().startswith(b"%PDF")


def test_cli_venue_poster_explains_a_bad_extension_or_an_unknown_venue(city):
    assert city.seeded.returncode == 0
    folder = city.folder

    bad = city.run("venue", "poster", "pasar-anyar", "--out", str(folder / "poster.jpg"))
    assert bad.returncode != 0
    assert ".jpg" in bad.stderr and ".png" in bad.stderr and ".pdf" in bad.stderr
    assert not (folder / "poster.jpg").exists()

    unknown = city.run("venue", "poster", "no-such-venue", "--out", str(folder / "nothing.png"))
    assert unknown.returncode == 1
    assert "There is no venue 'no-such-venue'" in unknown.stderr
    assert not (folder / "nothing.png").exists()
