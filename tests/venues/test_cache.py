"""The per-process venue cache: one bulk read, then changes pushed by invalidation."""

from sqlalchemy import update

from occupancy.venues import service as venue_service
from occupancy.venues.cache import VenueCache
from occupancy.venues.models import Venue


async def rename_in_sql(services, venue_id: int, name: str) -> None:
    async with services.sessionmaker() as session:
        await session.execute(update(Venue).where(Venue.id == venue_id).values(name=name))
        await session.commit()


async def test_load_all_reads_every_venue_at_once(services, make_venue):
    first, _ = await make_venue()
    second, _ = await make_venue()
    cache = VenueCache(services.sessionmaker, ttl=300)

    assert await cache.load_all() >= 2
    await rename_in_sql(services, first.id, "Renamed behind the cache's back")

    # Served from what load_all read: no SQL on the check-in path.
    assert (await cache.by_code(first.code)).name == first.name
    assert (await cache.by_id(second.id)).code == second.code


async def test_an_invalidated_venue_is_read_again(services, make_venue):
    venue, _ = await make_venue()
    cache = VenueCache(services.sessionmaker, ttl=300)
    await cache.load_all()
    await rename_in_sql(services, venue.id, "Pasar Lama (renovated)")

    cache.invalidate(venue.id)

    assert (await cache.by_code(venue.code)).name == "Pasar Lama (renovated)"
    assert (await cache.by_id(venue.id)).name == "Pasar Lama (renovated)"


async def test_a_bulk_read_does_not_bring_back_what_changed_while_it_ran(services, make_venue):
    venue, _ = await make_venue()
    cache = VenueCache(services.sessionmaker, ttl=300)
    sessionmaker = cache.sessionmaker

    def invalidating_sessionmaker():
        cache.invalidate(venue.id)  # a change announced while the bulk read is under way
        return sessionmaker()

    cache.sessionmaker = invalidating_sessionmaker
    await cache.load_all()
    cache.sessionmaker = sessionmaker
    await rename_in_sql(services, venue.id, "Changed meanwhile")

    assert (await cache.by_id(venue.id)).name == "Changed meanwhile"


async def test_load_all_reads_the_city_page_by_page(services, make_venue, monkeypatch):
    """Venues come in pages by id (the loop serves requests between them), none missed."""
    monkeypatch.setattr(venue_service, "VENUE_PAGE", 2)
    made = []
    for count in (4, 5):  # the last page full (then an empty one), and the last page short
        made += [(await make_venue(capacity=10 + i))[0] for i in range(count - len(made))]
        async with services.sessionmaker() as session:
            assert await venue_service.venue_infos(session) == made  # every field, in id order
        assert await VenueCache(services.sessionmaker, ttl=300).load_all() == count
