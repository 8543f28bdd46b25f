"""``occupancy venue slots``: run a venue by time slots, show or stop its plan."""

from typing import Annotated

import typer

from occupancy.cli import run, services_for_command
from occupancy.cli.venues import venue_app
from occupancy.settings import get_settings

slots_app = typer.Typer(help="Time slots: a venue whose visitors book a slot in advance.",
                        no_args_is_help=True)
venue_app.add_typer(slots_app, name="slots")


def _list(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def _weekdays(text: str | None) -> list[int] | None:
    if not text:
        return None
    if not text.isdigit():
        raise typer.BadParameter("write the open days as ISO weekday digits, e.g. 12345 for "
                                 "Monday to Friday", param_hint="'--weekdays'")
    return [int(day) for day in text]


def describe(plan) -> str:
    from occupancy.bookings.endpoints import plan_out

    out = plan_out(plan)
    return (f"slots {' '.join(out['ranges'])}; {out['capacity']} places each, "
            f"{out['bookable']} bookable in advance ({out['advance_percent']}%); held "
            f"{out['hold_minutes']} min after the start; weekdays "
            f"{''.join(map(str, out['weekdays']))}; booked up to {out['days_ahead']} days ahead, "
            f"{out['per_phone']} a day per phone")


@slots_app.command("set")
def slots_set(
    code: str,
    capacity: Annotated[int, typer.Option(help="Places per slot (at most the venue's capacity).")],
    ranges: Annotated[str | None, typer.Option(
        help="The slots as local times, e.g. 07:00-09:00,09:00-11:00.")] = None,
    starts: Annotated[str | None, typer.Option(
        help="Or the slots' start times, e.g. 07:00,09:00,11:00 (with --minutes).")] = None,
    minutes: Annotated[int | None, typer.Option(help="Each slot's length, with --starts.")] = None,
    advance_percent: Annotated[int, typer.Option(
        help="Share of a slot's places bookable in advance; the rest is kept for walk-ins.")] = 100,
    hold_minutes: Annotated[int, typer.Option(
        help="An unclaimed booking expires this long after its slot starts.")] = 15,
    weekdays: Annotated[str | None, typer.Option(
        help="Open days as ISO weekday digits, e.g. 12345 (Monday to Friday); every day by "
             "default.")] = None,
    days_ahead: Annotated[int, typer.Option(help="How many days ahead a slot may be booked.")] = 7,
    per_phone: Annotated[int, typer.Option(
        help="Bookings one phone number may hold at the venue on one day.")] = 1,
) -> None:
    """Run a venue by time slots (a new plan replaces the old one whole)."""
    from occupancy.bookings import plans
    from occupancy.venues.service import get_venue

    change = plans.PlanChange(
        capacity=capacity, ranges=_list(ranges), starts=_list(starts), slot_minutes=minutes,
        advance_percent=advance_percent, hold_minutes=hold_minutes, weekdays=_weekdays(weekdays),
        days_ahead=days_ahead, per_phone=per_phone)

    async def set_plan():
        async with services_for_command(get_settings()) as svc:
            async with svc.sessionmaker() as session:
                venue = await get_venue(session, code=code)
            # Through the service: a running server books by the new plan at once.
            return await svc.bookings.set_plan(venue.id, venue.capacity, change)

    typer.echo(f"{code}: {describe(run(set_plan()))}")


@slots_app.command("show")
def slots_show(code: str) -> None:
    """Show a venue's slot plan."""
    from occupancy.bookings import plans
    from occupancy.venues.service import get_venue

    async def get_plan():
        async with services_for_command(get_settings()) as svc, svc.sessionmaker() as session:
            return await plans.get_plan(session, (await get_venue(session, code=code)).id)

    typer.echo(f"{code}: {describe(run(get_plan()))}")


@slots_app.command("off")
def slots_off(code: str) -> None:
    """Stop running a venue by time slots."""
    from occupancy.venues.service import get_venue

    async def remove():
        async with services_for_command(get_settings()) as svc:
            async with svc.sessionmaker() as session:
                venue = await get_venue(session, code=code)
            await svc.bookings.remove_plan(venue.id)

    run(remove())
    typer.echo(f"{code}: no time slots")
