"""`mlops pipeline write|check|run`: dvc.yaml generated from the stage list, and `make run`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mlops.cli.state import options

if TYPE_CHECKING:
    from mlops.project import Project
    from mlops.tracking.uri import TrackingUri

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
    if not opts.quiet:
        typer.echo(next_steps(opts.project(), opts.store().location), err=True)
    if not result.promotion.record.accepted:
        raise typer.Exit(3)


def next_steps(project: Project, location: TrackingUri | None = None) -> str:
    """The last line of `make run`: where to look at the runs, serve the champion, commit.

    `location`: the store's parsed tracking URI (`Store.location`; parsed from the project's
    config when None)."""
    from mlops.errors import redact_secrets
    from mlops.tracking.uri import parse_tracking_uri

    if location is None:
        location = parse_tracking_uri(project.settings.tracking.uri, project.root)
    if location.scheme in ("http", "https"):
        ui = f"open {location.shown} (MLflow UI)"
    else:
        uri = location.raw
        if location.path is not None:  # relative to the root again, without the added timeout
            shown = project.relative(location.path)
            uri = f"sqlite:///{shown}" if location.is_sqlite else shown
        ui = f"mlflow ui --backend-store-uri {redact_secrets(uri)}"
    commit = 'git add dvc.lock params.yaml && git commit -m "..."'
    return f"next: {ui}  |  mlops serve  |  {commit}"
