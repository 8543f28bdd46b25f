"""The operator's command line: ``occupancy --help``."""

import asyncio
import os
import shutil
import tempfile
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from occupancy import migrate, serving
from occupancy.embedded_redis import EmbeddedRedis, announce, running_redis
from occupancy.errors import DomainError
from occupancy.settings import Settings, get_settings

app = typer.Typer(help="occupancy: real-time venue occupancy and check-in.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
venue_app = typer.Typer(help="Venues.", no_args_is_help=True)
token_app = typer.Typer(
    help="Access tokens for staff, managers, officials, operators and the metrics scraper.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
app.add_typer(venue_app, name="venue")
app.add_typer(token_app, name="token")


def run(coro):
    """Run an async command; domain errors become a clear message and exit code 1."""
    try:
        return asyncio.run(coro)
    except DomainError as exc:
        typer.secho(f"error: {exc.message}", fg="red", err=True)
        raise typer.Exit(1) from exc


@asynccontextmanager
async def services_for_command(settings: Settings):
    """Services for a one-off command.

    With no Redis configured, the command uses the private Redis of the `occupancy serve` running
    on the same database (so a capacity change is enforced at once); with none running, a
    throwaway one: the command's changes are in SQL, which the next server loads on start.
    """
    from occupancy.services import Services

    embedded = None
    if not settings.redis_url and (url := running_redis(settings.database_url)):
        settings = settings.model_copy(update={"redis_url": url})
    elif not settings.redis_url:
        embedded = EmbeddedRedis().start()
        # A private, empty Redis: no write of another process can be in flight against it.
        settings = settings.model_copy(update={"redis_url": embedded.url, "rebuild_grace_seconds": 0})
    services = await Services.start(settings, background=False)
    try:
        yield services
    finally:
        await services.stop()
        if embedded:
            embedded.stop()


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Bring the database schema up to date."""
    migrate.upgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Step the schema back to REVISION ('base' drops everything)."""
    migrate.downgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


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
) -> None:
    """Add a venue. CODE is its short name in URLs, e.g. grand-mall."""
    from occupancy.venues import service

    async def add():
        async with services_for_command(get_settings()) as svc, svc.sessionmaker() as session:
            venue = await service.create_venue(
                session, code=code, name=name, capacity=capacity, district=district,
                category=category, max_party=max_party, max_stay_minutes=max_stay_minutes,
                fever_threshold=fever_threshold,
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


@venue_app.command("poster")
def venue_poster(
    code: str,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="File to write; .png, .svg or .pdf picks the format "
        "[default: poster-CODE.png]")] = None,
) -> None:
    """Make the A4 QR poster for a venue's entrance."""
    from occupancy.db import make_engine, make_sessionmaker
    from occupancy.venues.poster import FORMATS, render_poster
    from occupancy.venues.service import VenueInfo, get_venue

    out = out or Path(f"poster-{code}.png")
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise typer.BadParameter(
            f"cannot make a poster as '{out.suffix or out.name}': end the file name with "
            f"{', '.join('.' + f for f in FORMATS)}", param_hint="'--out'")

    async def find():
        engine = make_engine(get_settings().database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return VenueInfo.of(await get_venue(session, code=code))
        finally:
            await engine.dispose()

    venue = run(find())
    url = visitor_url(venue.code)
    out.write_bytes(render_poster(venue, url, fmt))
    typer.echo(f"wrote {out} ({fmt}) for {venue.name}: {url}")


@app.command()
def demo(
    venues: Annotated[int, typer.Option(
        min=1, help="How many venues: the 12 named ones, then generated ones (shop-0013, ...)")] = 12,
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate")] = True,
) -> None:
    """Seed the demo city (modelled on Tangerang) and print where to go; safe to run again."""
    from occupancy.demo import seed_demo_city

    settings = get_settings()
    if migrate_first:
        migrate.upgrade(settings.database_url)

    async def seed():
        async with services_for_command(settings) as svc:
            return await seed_demo_city(svc, venues=venues)

    for line in run(seed()):
        typer.echo(line)


@app.command()
def reconcile() -> None:
    """Make the live counts in Redis agree with the open visits in SQL now.

    The service does this by itself (a rebuild when Redis lost its state, a lease and drift check
    every few seconds); this runs the same check at once.
    """

    async def go():
        async with services_for_command(get_settings()) as svc:
            await svc.rebuilder.ensure(wait=60.0)
            # The lease check waits for writes in flight; here, at the operator's word, none are.
            svc.repairer.lease = 0.0
            return await svc.repairer.run()

    done = run(go())
    typer.echo(f"reconciled: {done.venues_repaired} venues repaired, {done.venues_busy} busy "
               f"(checked again by the service), {done.orphans_released} orphaned reservations "
               f"released, {done.check_outs_finished + done.check_outs_reopened} half-done "
               "check-outs settled")


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
        async with services_for_command(settings) as svc:
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
        async with services_for_command(get_settings()) as svc:
            now = datetime.now(UTC) + timedelta(hours=hours_ahead)
            return await auto_check_out(svc.visits, svc.sessionmaker, now)

    typer.echo(f"checked out {run(go())} overdue visits")


@token_app.command("issue")
def token_issue(
    role: Annotated[str, typer.Argument(help="operator, official, manager, staff or monitor")],
    venue: Annotated[str | None, typer.Option(help="Venue code (managers and staff)")] = None,
    label: Annotated[str, typer.Option(help="Who holds it, for the record")] = "",
) -> None:
    """Issue an access token; it is shown once, only its hash is kept."""
    from occupancy.accounts.service import issue_token
    from occupancy.db import make_engine, make_sessionmaker
    from occupancy.venues.service import get_venue

    async def issue():
        engine = make_engine(get_settings().database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                venue_id = (await get_venue(session, code=venue)).id if venue else None
                return await issue_token(session, role, venue_id, label)
        finally:
            await engine.dispose()

    typer.echo(run(issue()))


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes sharing one Redis")] = 2,
    demo: Annotated[bool, typer.Option(help="Seed a demo city if there are no venues")] = False,
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate")] = True,
) -> None:
    """Run the service. With no OCCUPANCY_REDIS_URL, a private Redis is started and stopped."""
    # Posters and printed links point at this server unless a public URL is configured.
    os.environ.setdefault("OCCUPANCY_PUBLIC_URL", f"http://{host}:{port}")
    get_settings.cache_clear()
    settings = get_settings()
    if migrate_first:
        migrate.upgrade(settings.database_url)
    embedded = announced = None
    if not settings.redis_url:
        # Restarted (empty) if it dies; the workers then rebuild the counters from SQL.
        embedded = EmbeddedRedis().start().supervise()
        # The operator's commands in this folder reach this Redis (see services_for_command).
        announced = announce(embedded, settings.database_url)
        os.environ["OCCUPANCY_REDIS_URL"] = embedded.url
        get_settings.cache_clear()
        settings = get_settings()
    metrics_dir = tempfile.mkdtemp(prefix="occupancy-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        # A fresh private Redis has no writes in flight: its first rebuild need not wait for any.
        run(prepare(settings.model_copy(update={"rebuild_grace_seconds": 0}) if embedded else settings,
                    demo))
        base = f"http://{host}:{port}"
        typer.echo(f"occupancy on {base}  (API docs {base}/docs, metrics {base}/metrics with an "
                   "operator or monitor token)")
        serving.run(
            "occupancy.asgi:app", host=host, port=port, workers=workers, loop="uvloop",
            http="httptools", access_log=False, timeout_graceful_shutdown=20,
            # Compressing each frame for each socket was 7 % of a worker with 1,000 dashboards.
            ws_per_message_deflate=False,
            # A worker still starting on a busy host answers the supervisor late: not hung
            # (importing the app took 12-14 s of a 2-core machine shared with other work).
            timeout_worker_healthcheck=60,
        )
    finally:
        if announced:
            announced.unlink(missing_ok=True)
        if embedded:
            embedded.stop()
        shutil.rmtree(metrics_dir, ignore_errors=True)


async def prepare(settings: Settings, demo: bool) -> None:
    """Once, before the workers start: seed if asked.

    Starting the services rebuilds the counters from SQL when Redis is empty (always so for the
    private Redis); a Redis that other replicas are using already is left alone.
    """
    async with services_for_command(settings) as svc:
        if demo:
            from occupancy.demo import seed_demo_city

            for line in await seed_demo_city(svc):
                typer.echo(line)


if __name__ == "__main__":
    app()
