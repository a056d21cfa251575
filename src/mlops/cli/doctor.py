"""`mlops doctor`: check the tracking store and repair what a crash left behind."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops.cli.state import options

PANEL = "Operations"


def doctor(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    relocate: Annotated[
        bool,
        typer.Option(
            "--relocate",
            help="After moving the project folder: point the SQLite store's recorded artifact "
            "and data locations at the project's current folder.",
        ),
    ] = False,
) -> None:
    """Check the tracking store; mark runs left RUNNING by killed processes as KILLED."""
    from mlops.cli.state import print_json

    state = options(ctx)
    moved: dict[str, object] | None = None
    if relocate:
        from mlops.tracking.relocate import relocate as relocate_store
        from mlops.tracking.uri import parse_tracking_uri

        project = state.project()
        tracking = project.settings.tracking
        location = parse_tracking_uri(tracking.uri, project.root)
        if not location.is_sqlite or location.path is None:
            from mlops.errors import ConfigError

            raise ConfigError(
                f"tracking.uri: --relocate works on a local SQLite store, not {location.shown}"
            )
        artifacts = Path(tracking.artifact_root)  # resolved: inside the project root
        moved = relocate_store(
            location.path, tracking.experiment, artifacts, artifacts.relative_to(project.root)
        )
    health = state.store().health()
    if moved is not None:
        health = {"relocation": moved, **health}
    if json_out:
        print_json(health)
        return
    for key, value in health.items():
        typer.echo(f"{key}: {value}")


def register(app: typer.Typer) -> None:
    app.command("doctor", rich_help_panel=PANEL)(doctor)
