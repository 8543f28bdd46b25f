"""The operator's command line: ``occupancy --help``. One module per domain; every command that
needs the services opens them one way (``services_for_command``)."""

import asyncio
from contextlib import asynccontextmanager

import typer

from occupancy.embedded_redis import EmbeddedRedis, running_redis
from occupancy.errors import DomainError
from occupancy.settings import Settings

app = typer.Typer(help="occupancy: real-time venue occupancy and check-in.", no_args_is_help=True)


def run(coro):
    """Run an async command; domain errors become a clear message and exit code 1."""
    try:
        return asyncio.run(coro)
    except DomainError as exc:
        typer.secho(f"error: {exc.message}", fg="red", err=True)
        raise typer.Exit(1) from exc


class NoServerRunning(DomainError):
    message = ("No `occupancy serve` is running on this database, so there are no live counts "
               "to act on: start it (in this folder), or set OCCUPANCY_REDIS_URL to its Redis.")


@asynccontextmanager
async def services_for_command(settings: Settings, live: bool = False):
    """Services for a one-off command: the one way every command opens them.

    With no Redis configured, the command uses the private Redis of the `occupancy serve` running
    on the same database (so a capacity change is enforced at once). With none running, a command
    about the live counts (``live``) refuses; any other uses a throwaway Redis: its changes are in
    SQL, which the next server loads on start.
    """
    from occupancy.services import Services

    embedded = None
    if not settings.redis_url and (url := running_redis(settings.database_url)):
        settings = settings.model_copy(update={"redis_url": url})
    elif not settings.redis_url and live:
        raise NoServerRunning()
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


def _register() -> None:
    # The domains' commands, added to ``app`` when their modules are imported.
    from occupancy.cli import (  # noqa: F401
        accounts,
        db,
        line,
        privacy,
        serve,
        slots,
        stack,
        venues,
        visits,
    )


_register()
