"""Database schema (Alembic)."""

from pathlib import Path

import typer

from occupancy import migrate
from occupancy.backup import BackupFailed, backup
from occupancy.cli import app
from occupancy.settings import get_settings

db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")


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


@db_app.command("backup")
def db_backup(target: Path) -> None:
    """Copy the database to TARGET, a new file, while the service runs (SQLite's online backup;
    pg_dump's custom format for PostgreSQL)."""
    try:
        backup(get_settings().database_url, target)
    except BackupFailed as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"backed up to {target} ({target.stat().st_size:,} bytes)")
