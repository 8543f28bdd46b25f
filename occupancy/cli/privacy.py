"""Visitors' personal data: the health office's key pair, the retention purge."""

import os
from pathlib import Path
from typing import Annotated

import typer

from occupancy.cli import app, run, services_for_command
from occupancy.settings import get_settings

keys_app = typer.Typer(help="The health office's key pair that opens visitors' personal data.",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("new")
def keys_new(
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Where to write the private key (created readable by you only)")],
) -> None:
    """Make the health office's key pair. Run it where the private key will stay: never on the
    servers, which get only the public key."""
    from occupancy.privacy.sealing import new_key_pair

    public, private = new_key_pair()
    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        typer.secho(f"error: {out} exists; a key file is never overwritten", fg="red", err=True)
        raise typer.Exit(1) from None
    with os.fdopen(descriptor, "w") as file:
        file.write(private + "\n")
    typer.echo(f"private key written to {out}: keep it with the health office, never on the "
               "servers; contact tracing asks for it.")
    typer.echo("give the servers the public key:")
    typer.echo(f"OCCUPANCY_HEALTH_OFFICE_PUBLIC_KEY={public}")


@app.command()
def purge(
    days: Annotated[float | None, typer.Option(
        help="Purge personal data older than this [default: OCCUPANCY_RETENTION_DAYS, 14]")] = None,
) -> None:
    """Purge visitors' personal data past the retention period (the service does it hourly)."""
    from occupancy.privacy.purge import purge as purge_now

    settings = get_settings()

    async def go():
        async with services_for_command(settings) as svc:
            return await purge_now(svc.sessionmaker, days or settings.retention_days)

    done = run(go())
    typer.echo(f"purged the personal data of {done.visits} visits and {done.data_keys} data keys"
               + (f" ({done.bookings} bookings too)" if done.bookings else ""))


audit_app = typer.Typer(help="The contact-tracing audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit log's hash chain; print its head digest to note down elsewhere."""
    from occupancy.privacy.tracing import check_audit_chain

    settings = get_settings()

    async def go():
        async with services_for_command(settings) as svc:
            return await check_audit_chain(svc.sessionmaker)

    check = run(go())
    if not check.intact:
        typer.secho(f"error: the audit log was changed outside the service: record "
                    f"{check.broken_at} does not follow from the one before", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"the audit log's {check.records} records are intact; head {check.head}")
