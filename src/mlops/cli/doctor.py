"""`mlops doctor`: check the tracking store and repair what a crash left behind."""

from __future__ import annotations

from typing import Annotated

import typer

from mlops.cli.state import options

PANEL = "Operations"


def doctor(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Check the tracking store; mark runs left RUNNING by killed processes as KILLED."""
    from mlops.cli.state import print_json

    health = options(ctx).store().health()
    if json_out:
        print_json(health)
        return
    for key, value in health.items():
        typer.echo(f"{key}: {value}")


def register(app: typer.Typer) -> None:
    app.command("doctor", rich_help_panel=PANEL)(doctor)
