"""`mlops init`: a working project (config, pipeline, Makefile, CI) from a data file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

PANEL = "Operations"


def init(
    directory: Annotated[
        Path,
        typer.Argument(
            help="Folder of the new project \\[default: the current folder].", show_default=False
        ),
    ] = Path(),
    source: Annotated[
        str,
        typer.Option(
            "--source", help="CSV/Parquet file, or builtin:NAME (penguins, iris, wine, ...)."
        ),
    ] = ...,  # type: ignore[assignment]
    target: Annotated[str, typer.Option("--target", help="The column to predict.")] = ...,  # type: ignore[assignment]
    task: Annotated[
        Literal["classification", "regression"] | None,
        typer.Option(
            "--task",
            help="Classification or regression \\[default: inferred from the target].",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Registered model name \\[default: the folder's name]."),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Never ask; re-running with the same answers changes nothing."
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite files that differ from what init writes.")
    ] = False,
) -> None:
    """Create a project from your data: params, config, dvc.yaml, Makefile, CI, git, DVC."""
    from mlops.scaffold import init_project

    del yes  # init never prompts: the flag is accepted so scripts can say so
    result = init_project(
        directory, source=source, target=target, task=task, name=name, force=force
    )
    for note in result.notes:
        typer.echo(note, err=True)
    if result.written:
        typer.echo(f"wrote {', '.join(result.written)} in {result.root}", err=True)
    if result.unchanged:
        typer.echo(f"unchanged: {', '.join(result.unchanged)}", err=True)
    typer.echo("next:")
    for command in result.next_commands:
        typer.echo(f"  {command}")


EXAMPLES = """\b\nExamples:
  mlops init churn --source ~/data/churn.csv --target churned
  mlops init . --source prices.parquet --target price --task regression
  mlops init demo --source builtin:penguins --target species"""


def register(app: typer.Typer) -> None:
    app.command("init", rich_help_panel=PANEL, epilog=EXAMPLES)(init)
