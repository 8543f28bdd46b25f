"""Access tokens (issue, list, revoke) and people who sign in with a password (user ...)."""

from datetime import UTC, datetime
from typing import Annotated

import typer

from occupancy.cli import app, run, services_for_command
from occupancy.settings import get_settings

token_app = typer.Typer(
    help="Access tokens for staff, managers, officials, operators and the metrics scraper.",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")


@token_app.command("issue")
def token_issue(
    role: Annotated[str, typer.Argument(help="operator, official, manager, staff or monitor")],
    venue: Annotated[str | None, typer.Option(help="Venue code (managers and staff)")] = None,
    label: Annotated[str, typer.Option(help="Who holds it, for the record")] = "",
    days: Annotated[float | None, typer.Option(
        help="How long it lasts [default: OCCUPANCY_TOKEN_DAYS, 90]")] = None,
) -> None:
    """Issue an access token; it is shown once, only its hash is kept."""
    from occupancy.accounts.service import issue_token
    from occupancy.venues.service import get_venue

    settings = get_settings()

    async def issue():
        async with services_for_command(settings) as svc, svc.sessionmaker() as session:
            venue_id = (await get_venue(session, code=venue)).id if venue else None
            return await issue_token(session, role, venue_id, label, days or settings.token_days)

    typer.echo(run(issue()))


@token_app.command("list")
def token_list() -> None:
    """List the tokens (never the tokens themselves): id, role, venue, label, state, expiry."""
    from occupancy.accounts.service import list_tokens

    async def rows():
        async with services_for_command(get_settings()) as svc, svc.sessionmaker() as session:
            return await list_tokens(session)

    now = datetime.now(UTC)
    for token in run(rows()):
        state = ("revoked" if token.revoked_at else "expired" if token.expires_at <= now
                 else "active")
        typer.echo(f"{token.id:>5} {token.role:<9} {token.venue_id or '-':>6} {state:<8} "
                   f"until {token.expires_at:%Y-%m-%d %H:%M} UTC  {token.label}")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="The id from `occupancy token list`")]
                 ) -> None:
    """Revoke a token and the page sessions opened with it; its open sockets close within seconds."""
    from occupancy.accounts.service import revoke_token

    async def revoke():
        async with services_for_command(get_settings()) as svc, svc.sessionmaker() as session:
            return await revoke_token(session, token_id)

    if not run(revoke()):
        typer.secho(f"error: no active token {token_id}", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked token {token_id}")


user_app = typer.Typer(help="People who sign in to the staff pages with a password.",
                       no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[str, typer.Argument(help="operator, official, manager, staff or monitor")],
    venue: Annotated[str | None, typer.Option(help="Venue code (managers and door staff)")] = None,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          help="Asked for when not given")] = "",
) -> None:
    """Add a person; they sign in at /login with their name and password."""
    from occupancy.accounts import users
    from occupancy.venues.service import get_venue

    async def add():
        async with services_for_command(get_settings()) as svc, svc.sessionmaker() as session:
            venue_id = (await get_venue(session, code=venue)).id if venue else None
            return await users.add_user(session, username, password, role, venue_id)

    user = run(add())
    typer.echo(f"added {user.username} ({user.role}{f' of {venue}' if venue else ''})")


@user_app.command("remove")
def user_remove(username: str) -> None:
    """Remove a person; their page sessions end and their sockets close within seconds."""
    from occupancy.accounts import users

    async def remove():
        async with services_for_command(get_settings()) as svc, svc.sessionmaker() as session:
            return await users.remove_user(session, username)

    if not run(remove()):
        typer.secho(f"error: there is nobody called {username}", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"removed {username}")


@user_app.command("grant")
def user_grant(
    username: str,
    role: Annotated[str, typer.Argument(help="operator, official, manager, staff or monitor")],
    venue: Annotated[str | None, typer.Option(help="Venue code (managers and door staff)")] = None,
) -> None:
    """Change a person's role (and venue); they sign in again."""
    from occupancy.accounts import users
    from occupancy.venues.service import get_venue

    async def change():
        async with services_for_command(get_settings()) as svc, svc.sessionmaker() as session:
            venue_id = (await get_venue(session, code=venue)).id if venue else None
            return await users.grant(session, username, role, venue_id)

    user = run(change())
    typer.echo(f"{user.username} is now {user.role}{f' of {venue}' if venue else ''}")


@user_app.command("list")
def user_list() -> None:
    """The people who may sign in, with their roles."""
    from occupancy.accounts import users

    async def rows():
        async with services_for_command(get_settings()) as svc, svc.sessionmaker() as session:
            return await users.list_users(session)

    for user in run(rows()):
        typer.echo(f"{user.username:<30} {user.role:<9} {user.venue_id or '-'}")
