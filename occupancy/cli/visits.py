"""The live counts and visits: reconcile, expire overdue visits, roll up the history."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from occupancy.bookings.drift import BookingReconciler
from occupancy.cli import app, run, services_for_command
from occupancy.line.drift import LineReconciler
from occupancy.settings import get_settings


@app.command()
def reconcile() -> None:
    """Make the live counts in Redis agree with the open visits in SQL now (and the bookings'
    counts and the waiting lines with theirs).

    The service does this by itself (a rebuild when Redis lost its state, a lease and drift check
    every few seconds); this runs the same check at once.
    """

    async def go():
        async with services_for_command(get_settings(), live=True) as svc:
            await svc.rebuilder.ensure(wait=60.0)
            # The lease check waits for writes in flight; here, at the operator's word, none are.
            svc.repairer.lease = 0.0
            return (await svc.repairer.run(), await BookingReconciler(svc.bookings).repair(),
                    await LineReconciler(svc.line).repair())

    done, booking_drift, line_drift = run(go())
    typer.echo(f"reconciled: {done.venues_repaired} venues repaired, {done.venues_busy} busy "
               f"(checked again by the service), {done.orphans_released} orphaned reservations "
               f"released, {done.check_outs_finished + done.check_outs_reopened} half-done "
               f"check-outs settled, {len(booking_drift)} booking counts set to SQL's, "
               f"{len({d.venue_id for d in line_drift})} waiting lines loaded again from SQL")
    for drift in booking_drift:
        typer.echo(f"  venue {drift.venue_id} slot {drift.slot} {drift.what}: Redis had "
                   f"{drift.redis}, SQL has {drift.sql}")
    for drift in line_drift:
        what = "parties waiting" if drift.what == "waiting" else "places offered"
        typer.echo(f"  venue {drift.venue_id} line, {what}: Redis had {drift.redis}, SQL has "
                   f"{drift.sql}")


@app.command()
def rollup(
    day: Annotated[str | None, typer.Option(
        "--date", help="Local day YYYY-MM-DD to roll up [default: yesterday and today]")] = None,
) -> None:
    """Write the hourly history (SQL) from the per-minute counters kept in Redis."""
    from datetime import date
    from zoneinfo import ZoneInfo

    from occupancy.stats import rollup as stats_rollup

    async def go():
        settings = get_settings()
        tz = ZoneInfo(settings.timezone)
        async with services_for_command(settings, live=True) as svc:
            today = datetime.now(tz).date()
            days = [date.fromisoformat(day)] if day else [today - timedelta(days=1), today]
            return sum([await stats_rollup.rollup_day(svc.redis, svc.sessionmaker, tz, d)
                        for d in days])

    typer.echo(f"wrote {run(go())} venue-hours")


@app.command()
def expire(
    hours_ahead: Annotated[float, typer.Option(help="Pretend it is this much later (for tests).")] = 0,
) -> None:
    """Check out visits that stayed longer than their venue allows (reason 'auto')."""
    from occupancy.visits.expiry import auto_check_out

    async def go():
        # Checking out moves the live counts: on a throwaway Redis it would act on nothing live.
        async with services_for_command(get_settings(), live=True) as svc:
            now = datetime.now(UTC) + timedelta(hours=hours_ahead)
            return await auto_check_out(svc.visits, svc.sessionmaker, now)

    typer.echo(f"checked out {run(go())} overdue visits")
