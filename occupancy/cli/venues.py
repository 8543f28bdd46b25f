"""Venues: add, list, change capacity, place on the map, print posters."""

from pathlib import Path
from typing import Annotated

import typer

from occupancy.cli import app, run, services_for_command
from occupancy.settings import get_settings

venue_app = typer.Typer(help="Venues.", no_args_is_help=True)
app.add_typer(venue_app, name="venue")

LATITUDE_HELP = "Where it is on the city map: degrees north, -90 to 90 (with --longitude)."
LONGITUDE_HELP = "Degrees east, -180 to 180 (with --latitude)."


@venue_app.command("add")
def venue_add(
    code: str,
    name: str,
    capacity: int,
    district: str = "",
    category: str = "shop",
    max_party: int = 10,
    max_stay_minutes: int = 240,
    fever_threshold: float = 37.5,
    latitude: Annotated[float | None, typer.Option(help=LATITUDE_HELP)] = None,
    longitude: Annotated[float | None, typer.Option(help=LONGITUDE_HELP)] = None,
) -> None:
    """Add a venue. CODE is its short name in URLs, e.g. grand-mall."""
    from occupancy.venues import service

    async def add():
        async with services_for_command(get_settings()) as svc, svc.sessionmaker() as session:
            venue = await service.create_venue(
                session, code=code, name=name, capacity=capacity, district=district,
                category=category, max_party=max_party, max_stay_minutes=max_stay_minutes,
                fever_threshold=fever_threshold, latitude=latitude, longitude=longitude,
            )
            await service.push_config(svc.redis, venue, new=True)
            return venue

    venue = run(add())
    typer.echo(f"added venue {venue.id} {venue.code}: {visitor_url(venue.code)}")


def visitor_url(code: str) -> str:
    from occupancy.venues import signing

    settings = get_settings()
    return signing.visitor_url(settings.public_url, settings.secret_key, code)


@venue_app.command("list")
def venue_list() -> None:
    """List venues with their live count."""
    from occupancy.venues import service

    async def rows():
        async with services_for_command(get_settings()) as svc, svc.sessionmaker() as session:
            venues = await service.list_venues(session)
            return [(v, await svc.capacity.occupancy(v.id)) for v in venues]

    for venue, live in run(rows()):
        typer.echo(
            f"{venue.id:>5} {venue.code:<28} {live.count:>6}/{venue.capacity:<6} "
            f"{venue.category:<8} {venue.district:<16} {venue.name}"
            + ("  [paused]" if venue.paused else "")
        )


@venue_app.command("set-capacity")
def venue_set_capacity(code: str, capacity: int) -> None:
    """Change a venue's capacity; it is enforced at once."""
    from occupancy.venues import service

    async def change():
        async with services_for_command(get_settings()) as svc, svc.sessionmaker() as session:
            venue = await service.get_venue(session, code=code)
            await service.update_venue(session, svc.redis, venue, capacity=capacity)

    run(change())
    typer.echo(f"{code}: capacity {capacity}")


@venue_app.command("set-location")
def venue_set_location(
    code: str,
    latitude: Annotated[float | None, typer.Option(help=LATITUDE_HELP)] = None,
    longitude: Annotated[float | None, typer.Option(help=LONGITUDE_HELP)] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Take the venue off the map.")] = False,
) -> None:
    """Place a venue on the city map, e.g. --latitude -6.178 --longitude 106.631."""
    from occupancy.venues import service

    if clear == (latitude is not None or longitude is not None):
        raise typer.BadParameter("give --latitude and --longitude, or --clear")

    async def change():
        async with services_for_command(get_settings()) as svc, svc.sessionmaker() as session:
            venue = await service.get_venue(session, code=code)
            await service.update_venue(session, svc.redis, venue, latitude=latitude,
                                       longitude=longitude)

    run(change())
    typer.echo(f"{code}: off the map" if clear else f"{code}: at {latitude}, {longitude}")


@venue_app.command("poster")
def venue_poster(
    code: str,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="File to write; .png, .svg or .pdf picks the format "
        "[default: poster-CODE.png]")] = None,
) -> None:
    """Make the A4 QR poster for a venue's entrance."""
    from occupancy.venues.poster import FORMATS, render_poster
    from occupancy.venues.service import VenueInfo, get_venue

    out = out or Path(f"poster-{code}.png")
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise typer.BadParameter(
            f"cannot make a poster as '{out.suffix or out.name}': end the file name with "
            f"{', '.join('.' + f for f in FORMATS)}", param_hint="'--out'")

    async def find():
        async with services_for_command(get_settings()) as svc, svc.sessionmaker() as session:
            return VenueInfo.of(await get_venue(session, code=code))

    venue = run(find())
    url = visitor_url(venue.code)
    out.write_bytes(render_poster(venue, url, fmt))
    typer.echo(f"wrote {out} ({fmt}) for {venue.name}: {url}")
