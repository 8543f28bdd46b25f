"""``occupancy venue line``: a venue's waiting line as its manager sets it."""

import typer

from occupancy.cli import run, services_for_command
from occupancy.cli.venues import venue_app
from occupancy.settings import get_settings

line_app = typer.Typer(help="The waiting line of a full venue.", no_args_is_help=True)
venue_app.add_typer(line_app, name="line")


def describe(svc, summary) -> str:
    own = "" if summary.offer_seconds is not None else " (the default)"
    return (f"{summary.waiting} parties waiting, {summary.places_offered} places offered; "
            f"{'paused; ' if summary.paused else ''}offers last "
            f"{svc.line.offer_minutes(summary)} minutes{own}")


async def _venue_id(svc, code: str) -> int:
    from occupancy.venues.service import get_venue

    async with svc.sessionmaker() as session:
        return (await get_venue(session, code=code)).id


@line_app.command("offer-minutes")
def line_offer_minutes(code: str, minutes: str) -> None:
    """How long the head of the venue's line has to claim the places offered: 1 to 30 minutes,
    or 'default' for OCCUPANCY_LINE_OFFER_MINUTES. The offers made from now on."""
    if minutes != "default" and not minutes.isdigit():
        raise typer.BadParameter("give a whole number of minutes (1 to 30) or 'default'",
                                 param_hint="'MINUTES'")

    async def change():
        async with services_for_command(get_settings()) as svc:
            venue_id = await _venue_id(svc, code)
            await svc.line.set_offer_minutes(venue_id,
                                             None if minutes == "default" else int(minutes))
            return describe(svc, await svc.line.summary(venue_id))

    typer.echo(f"{code}: {run(change())}")


@line_app.command("show")
def line_show(code: str) -> None:
    """The venue's line now and its offer time."""

    async def show():
        async with services_for_command(get_settings()) as svc:
            venue_id = await _venue_id(svc, code)
            return describe(svc, await svc.line.summary(venue_id))

    typer.echo(f"{code}: {run(show())}")
