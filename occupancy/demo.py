"""A demo city modelled on Tangerang, for a newcomer's first run and for the load tests.

``seed_demo_city(services)`` adds a dozen named venues (malls, shops, markets, parks, stations,
an office) in five districts; ``venues=N`` adds further venues generated deterministically
(``shop-0013``, ``market-0014``, ...) in batches. Seeding is idempotent: codes that exist are skipped.
Every demo venue stands at a point scattered (deterministically) around its district's centre,
inside the district's shape in ``occupancy/city/demo_districts.geojson``.
"""

import random
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from occupancy.accounts import users
from occupancy.accounts.service import issue_token
from occupancy.services import Services
from occupancy.venues import service, signing
from occupancy.venues.errors import VenueExists
from occupancy.venues.models import Venue

DISTRICTS = ("Tangerang", "Karawaci", "Cipondoh", "Ciledug", "Serpong")
# (latitude, longitude) of each district's centre: schematic, like the shapes drawn around them.
CENTRES = {
    "Karawaci": (-6.1875, 106.5915), "Tangerang": (-6.1875, 106.6255),
    "Cipondoh": (-6.1875, 106.6640), "Serpong": (-6.2325, 106.6050),
    "Ciledug": (-6.2325, 106.6600),
}
SCATTER = 0.012  # degrees either way of the centre: well inside every district's shape
BATCH = 1000
LISTED = 30  # with a large seed, list this many visitor URLs and count the rest


@dataclass(frozen=True, slots=True)
class DemoVenue:
    code: str
    name: str
    category: str
    district: str
    capacity: int
    max_party: int = 10
    max_stay_minutes: int = 240


NAMED = (
    DemoVenue("tangcity-mall", "Tangcity Mall", "mall", "Tangerang", 4000),
    DemoVenue("supermal-karawaci", "Supermal Karawaci", "mall", "Karawaci", 5000),
    DemoVenue("summarecon-mal-serpong", "Summarecon Mal Serpong", "mall", "Serpong", 4500),
    DemoVenue("apotek-sehat-karawaci", "Apotek Sehat Karawaci", "shop", "Karawaci", 40, 4, 60),
    DemoVenue("toko-buku-ciledug", "Toko Buku Ciledug", "shop", "Ciledug", 120, 6, 120),
    DemoVenue("pasar-anyar", "Pasar Anyar", "market", "Tangerang", 800, 6, 180),
    DemoVenue("pasar-ciledug", "Pasar Ciledug", "market", "Ciledug", 500, 6, 180),
    DemoVenue("taman-situ-cipondoh", "Taman Situ Cipondoh", "park", "Cipondoh", 1500, 10, 180),
    DemoVenue("taman-potret", "Taman Potret", "park", "Tangerang", 600, 10, 180),
    DemoVenue("stasiun-tangerang", "Stasiun Tangerang", "station", "Tangerang", 1200, 6, 60),
    DemoVenue("stasiun-serpong", "Stasiun Serpong", "station", "Serpong", 900, 6, 60),
    DemoVenue("puspemkot-tangerang", "Pusat Pemerintahan Kota Tangerang", "office", "Tangerang",
              600, 4, 600),
)

# For generated venues: how often each category occurs, its capacity range and its names.
GENERATED = {
    "shop": (50, (30, 150), ("Toko", "Warung", "Apotek", "Toko Roti", "Minimarket", "Toko Sepatu")),
    "market": (8, (300, 800), ("Pasar", "Pasar Baru", "Pasar Malam")),
    "mall": (4, (1500, 5000), ("Mall", "Plaza", "Square")),
    "park": (8, (500, 2000), ("Taman", "Taman Kota", "Alun-alun")),
    "station": (8, (400, 1200), ("Stasiun", "Terminal", "Halte Transjakarta")),
    "office": (22, (50, 800), ("Kantor", "Gedung", "Kantor Kecamatan")),
}
STAY = {"shop": (6, 90), "market": (6, 180), "mall": (10, 240), "park": (10, 180),
        "station": (6, 60), "office": (4, 600)}
WORDS = ("Sejahtera", "Makmur", "Jaya", "Sentosa", "Mandiri", "Bersama", "Indah", "Lestari",
         "Abadi", "Harapan", "Cahaya", "Mulia", "Baru", "Raya", "Permai", "Asri")


def generated(number: int) -> DemoVenue:
    """The demo city's venue number ``number`` (13 and up): the same every time."""
    rng = random.Random(f"occupancy-demo-{number}")
    categories = list(GENERATED)
    category = rng.choices(categories, weights=[GENERATED[c][0] for c in categories])[0]
    _, (low, high), prefixes = GENERATED[category]
    district = DISTRICTS[number % len(DISTRICTS)]
    name = f"{rng.choice(prefixes)} {rng.choice(WORDS)} {district} {number}"
    capacity = rng.randrange(low, high + 1, 10 if high > 200 else 5)
    max_party, max_stay = STAY[category]
    return DemoVenue(f"{category}-{number:04d}", name, category, district, capacity, max_party, max_stay)


def demo_venues(count: int) -> list[DemoVenue]:
    return list(NAMED[:count]) + [generated(n) for n in range(len(NAMED) + 1, count + 1)]


async def seed_demo_city(services: Services, venues: int = len(NAMED), tokens: bool = True) -> list[str]:
    """Add the demo city's venues that are missing; return lines telling a newcomer where to go.

    With ``tokens``, also issue an operator, an official, and a manager and a staff token for the
    first venue (new tokens each run: a token is shown only once).
    """
    wanted = demo_venues(venues)
    settings = services.settings
    async with services.sessionmaker() as session:
        existing = set((await session.execute(select(Venue.code))).scalars())
        missing = [v for v in wanted if v.code not in existing]
        added = 0
        # The named venues go through the same checks as any venue an operator adds.
        for demo in (v for v in missing if v in NAMED):
            try:
                venue = await service.create_venue(session, **fields(demo))
            except VenueExists:  # another seeder got there first
                continue
            await service.push_config(services.redis, venue, new=True)
            added += 1
        # Generated venues, by the thousand: one commit and one Redis round trip per batch.
        bulk = [v for v in missing if v not in NAMED]
        for start in range(0, len(bulk), BATCH):
            rows = [Venue(**fields(demo), fever_threshold=settings.default_fever_threshold, paused=False)
                    for demo in bulk[start:start + BATCH]]
            session.add_all(rows)
            await session.commit()
            async with services.redis.pipeline(transaction=False) as pipe:
                for venue in rows:
                    await service.push_config(pipe, venue, new=True)
                await pipe.execute()
            added += len(rows)

        lines = [f"demo city: {len(wanted)} venues in {', '.join(DISTRICTS)} ({added} added now)"]
        for demo in wanted[:LISTED]:
            url = signing.visitor_url(settings.public_url, settings.secret_key, demo.code)
            lines.append(f"  {demo.code:<24} {demo.name:<36} {url}")
        if len(wanted) > LISTED:
            lines.append(f"  ... and {len(wanted) - LISTED} more (occupancy venue list)")
        if tokens and wanted:
            first = await service.get_venue(session, code=wanted[0].code)
            lines.append("access tokens (shown once; send as 'Authorization: Bearer <token>'):")
            for role, venue_id, who in (
                ("operator", None, ""), ("official", None, ""),
                ("manager", first.id, first.code), ("staff", first.id, first.code),
            ):
                token = await issue_token(session, role, venue_id, label=f"demo {role}")
                lines.append(f"  {role:<8} {who:<24} {token}")
            lines += await _demo_accounts(session, first.id)
    return lines


async def _demo_accounts(session, venue_id: int) -> list[str]:
    """People to sign in as at /login (new passwords each run, shown once)."""
    lines = ["demo accounts (sign in at /login; passwords shown once):"]
    for username, role, venue in (("demo-official", "official", None),
                                  ("demo-manager", "manager", venue_id),
                                  ("demo-door", "staff", venue_id)):
        password = secrets.token_urlsafe(12)
        await users.remove_user(session, username)  # a run again gives new passwords
        await users.add_user(session, username, password, role, venue)
        lines.append(f"  {username:<16} {role:<8} {password}")
    return lines


def location(demo: DemoVenue) -> tuple[float, float]:
    """Where a demo venue stands: the same point every time, by its code."""
    rng = random.Random(f"occupancy-demo-location-{demo.code}")
    latitude, longitude = CENTRES[demo.district]
    return (round(latitude + rng.uniform(-SCATTER, SCATTER), 5),
            round(longitude + rng.uniform(-SCATTER, SCATTER), 5))


def fields(demo: DemoVenue) -> dict:
    latitude, longitude = location(demo)
    return {
        "code": demo.code, "name": demo.name, "capacity": demo.capacity, "district": demo.district,
        "category": demo.category, "max_party": demo.max_party,
        "max_stay_minutes": demo.max_stay_minutes, "latitude": latitude, "longitude": longitude,
    }
