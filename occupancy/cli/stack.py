"""Several hosts on this machine (Linux, as root): ``occupancy stack up`` and ``stack down``."""

import os
import shutil
from typing import Annotated

import typer

from occupancy.cli import app

stack_app = typer.Typer(
    help="A stack of several hosts on this Linux machine (network namespaces, as root): two app "
         "hosts behind nginx, a Redis Cluster, PostgreSQL and Prometheus, with deploy/'s files.",
    no_args_is_help=True,
)
app.add_typer(stack_app, name="stack")

NEEDED = ("ip", "nginx", "prometheus", "openssl", "setpriv")


def missing_requirements() -> list[str]:
    """What this machine lacks to run the stack (empty when it can)."""
    missing = [] if os.geteuid() == 0 else ["root (network namespaces need it)"]
    missing += [f"the `{tool}` command" for tool in NEEDED if not shutil.which(tool)]
    from occupancy.stack.parts import postgres_bin

    try:
        postgres_bin()
    except FileNotFoundError as exc:
        missing.append(str(exc))
    return missing


@stack_app.command("up")
def stack_up(
    workers: Annotated[int, typer.Option(min=1, help="uvicorn workers on each app host")] = 1,
    demo: Annotated[bool, typer.Option(help="Seed the demo city and print its pages")] = False,
) -> None:
    """Start the stack and print its addresses; it runs until `occupancy stack down`."""
    from occupancy.stack.stack import Stack

    if missing := missing_requirements():
        typer.secho("error: the stack needs " + ", ".join(missing), fg="red", err=True)
        raise typer.Exit(2)
    typer.echo("starting (about a minute): namespaces, PostgreSQL, Redis Cluster, two app "
               "hosts, nginx, Prometheus ...")
    try:
        stack = Stack.up(workers=workers, demo=demo)
    except Exception as exc:
        typer.secho(f"error: the stack did not start, and what had started was stopped: {exc}",
                    fg="red", err=True)
        raise typer.Exit(1) from exc
    for line in stack.demo_lines:
        typer.echo(line)
    for line in stack.describe():
        typer.echo(line)
    typer.echo(f"  operator token    {stack.operator_token}")
    typer.echo("operator commands on app-a: ip netns exec "
               f"{stack.network.namespace('app-a')} env $(cat {stack.root}/app.env) "
               "uv run occupancy <command>   (e.g. demo, venue add, token issue)")
    typer.echo(f"stop it with: occupancy stack down {stack.name}")


@stack_app.command("down")
def stack_down(
    name: Annotated[str | None, typer.Argument(help="Which stack (all of them if not given)")] = None,
) -> None:
    """Stop a stack's programs and remove its namespaces, bridge and folder."""
    from occupancy.stack.stack import Stack

    stacks = [s for s in Stack.running() if name in (None, s.name)]
    if not stacks:
        typer.secho(f"error: no stack {name or ''} is running".replace("  ", " "), fg="red",
                    err=True)
        raise typer.Exit(1)
    for stack in stacks:
        stack.down()
        typer.echo(f"stack {stack.name} stopped and removed")
