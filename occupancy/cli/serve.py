"""Run the service, and seed the demo city."""

import os
import shutil
import tempfile
from typing import Annotated

import typer

from occupancy import migrate, serving
from occupancy.cli import app, run, services_for_command
from occupancy.embedded_redis import EmbeddedRedis, announce
from occupancy.settings import Settings, UnsafeSettings, get_settings, refuse_unsafe_start


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
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes sharing one Redis")] = 2,
    demo: Annotated[bool, typer.Option(
        help="A trial: seed a demo city if there are no venues; development mode")] = False,
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate")] = True,
) -> None:
    """Run the service. With no OCCUPANCY_REDIS_URL, a private Redis is started and stopped."""
    # Posters and printed links point at this server unless a public URL is configured.
    os.environ.setdefault("OCCUPANCY_PUBLIC_URL", f"http://{host}:{port}")
    if demo:  # a trial: the workers inherit it
        os.environ["OCCUPANCY_DEVELOPMENT"] = "1"
        os.environ.setdefault("OCCUPANCY_CITY_NAME", "Tangerang")  # the demo city
    get_settings.cache_clear()
    settings = get_settings()
    try:
        refuse_unsafe_start(settings)
    except UnsafeSettings as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
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
    # Several workers share their metrics through files that any of them reads at a scrape; one
    # process keeps them in memory (prometheus_client chose that when it was imported, above).
    metrics_dir = tempfile.mkdtemp(prefix="occupancy-metrics-") if workers > 1 else None
    if metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    else:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    try:
        # A fresh private Redis has no writes in flight: its first rebuild need not wait for any.
        run(prepare(settings.model_copy(update={"rebuild_grace_seconds": 0}) if embedded else settings,
                    demo))
        base = f"http://{host}:{port}"
        typer.echo(f"occupancy on {base}  (API docs {base}/docs, metrics {base}/metrics with an "
                   "operator or monitor token)")
        serving.run("occupancy.asgi:app", host=host, port=port, workers=workers,
                    **serving.UVICORN_OPTIONS)
    finally:
        if announced:
            announced.unlink(missing_ok=True)
        if embedded:
            embedded.stop()
        if metrics_dir:
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
