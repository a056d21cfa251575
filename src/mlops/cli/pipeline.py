"""`mlops pipeline write|check|run`: dvc.yaml generated from the stage list, and `make run`."""

from __future__ import annotations

from typing import Annotated

import typer

from mlops.cli.state import options

PANEL = "Operations"

app = typer.Typer(
    help="Write, check and run the DVC pipeline generated from the stage list.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def write(ctx: typer.Context) -> None:
    """(Re)generate dvc.yaml from the stage list and the configured paths."""
    from mlops import pipeline

    project = options(ctx).project()
    changed = pipeline.write(project)
    names = ", ".join(project.relative(path) for path in changed)
    typer.echo(f"wrote {names}" if changed else "dvc.yaml is up to date", err=True)


@app.command()
def check(ctx: typer.Context) -> None:
    """Check dvc.yaml against the stage list; exit 3 if it has drifted (a line per difference)."""
    from mlops import pipeline

    problems = pipeline.check(options(ctx).project())
    for problem in problems:
        typer.echo(problem)
    if problems:
        raise typer.Exit(3)
    typer.echo("dvc.yaml matches the stage list", err=True)


@app.command(epilog="\b\nExamples:\n  mlops pipeline run              # what `make run` does")
def run(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
) -> None:
    """Run `dvc repro`, promote, and drift against the new champion (exit 3: rejected)."""
    from mlops import pipeline
    from mlops.cli.promote import show_decision

    opts = options(ctx)
    result = pipeline.run(opts.project(), opts.store())
    show_decision(result.promotion, json_out)
    if not result.promotion.record.accepted:
        raise typer.Exit(3)
