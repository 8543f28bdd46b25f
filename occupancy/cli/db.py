"""Database schema (Alembic)."""

import typer

from occupancy import migrate
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
