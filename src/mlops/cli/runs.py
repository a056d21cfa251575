"""`mlops runs list|compare`: the experiment's runs, and runs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops.cli.state import options, print_json, print_text

app = typer.Typer(
    help="List the experiment's runs and compare them (text, Markdown for PRs, JSON, HTML).",
    no_args_is_help=True,
    add_completion=False,
)


@app.command(
    "list",
    epilog="\b\nExamples:\n"
    "  mlops runs list -n 5\n"
    '  mlops runs list --filter "metrics.test_roc_auc > 0.99" --json',
)
def list_(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="How many runs, newest first.")
    ] = 20,
    filter_string: Annotated[
        str | None,
        typer.Option(
            "--filter",
            metavar="EXPR",
            help='MLflow search filter, e.g. "metrics.test_accuracy > 0.9" or '
            "\"params.`model.estimator` = 'random_forest'\".",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the runs as JSON.")] = False,
) -> None:
    """Recent runs: name, status, start, duration, estimator, primary metric, gate verdict,
    git sha, DVC experiment, registered versions and aliases (times in UTC)."""
    from mlops.errors import StageOrderError
    from mlops.promote.policy import primary_metric
    from mlops.runs import list_runs, promote_primary, runs_table

    opts = options(ctx)
    project = opts.project()
    try:
        primary = promote_primary(project)
    except StageOrderError:  # no data here (a fresh clone): the listing still lists
        primary = primary_metric(project.params.gate, project.params.data.task, None)
    rows = list_runs(opts.store(), primary, limit=limit, filter_string=filter_string)
    if json_out:
        print_json([row.to_json() for row in rows])
    elif rows:
        print_text(runs_table(rows))
    else:
        typer.echo(
            f"no runs in experiment {opts.project().settings.tracking.experiment!r}"
            + (" match the filter" if filter_string else ""),
            err=True,
        )


@app.command(
    epilog="\b\nExamples:\n"
    "  mlops runs compare HEAD @champion --md --fail-on-regression\n"
    "  mlops runs compare 3f2a9c1 my-dvc-exp @champion --html reports/compare.html",
)
def compare(
    ctx: typer.Context,
    refs: Annotated[
        list[str],
        typer.Argument(
            metavar="REF",
            help="Run id (or prefix), @alias, DVC experiment, run name, or git rev (HEAD). "
            "The last is the baseline.",
        ),
    ],
    markdown: Annotated[
        bool, typer.Option("--md", help="GitHub-flavoured Markdown (a PR comment).")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
    html_path: Annotated[
        Path | None,
        typer.Option("--html", metavar="PATH", help="Also write a self-contained HTML page."),
    ] = None,
    fail_on_regression: Annotated[
        bool,
        typer.Option(
            "--fail-on-regression",
            help="Exit 3 when the first run is worse than the baseline beyond "
            "gate.max_regression, on the primary metric or a guard metric (promote's checks).",
        ),
    ] = False,
) -> None:
    """Runs side by side: params that differ, every metric with its delta vs the baseline (the
    last ref), gate thresholds, dataset digests, drift, and plots (--html). The verdict is
    `mlops promote`'s: its primary metric and guards, the project's gate.max_regression."""
    from mlops import artifacts
    from mlops.errors import MlopsError
    from mlops.runs import (
        compare_runs,
        promote_primary,
        resolve_ref,
        to_html,
        to_markdown,
        to_text,
    )
    from mlops.tracking.runs import artifact_bytes, artifact_size

    if len(refs) < 2:
        raise typer.BadParameter("give at least two runs to compare", param_hint="REF")
    if markdown and json_out:
        raise typer.BadParameter("--md and --json: choose one", param_hint="--md")
    opts = options(ctx)
    project, store = opts.project(), opts.store()
    pairs = [(ref, resolve_ref(store, project.root, ref)) for ref in refs]
    comparison = compare_runs(store, pairs, project.params.gate, promote_primary(project))
    if html_path is not None:
        sides = comparison.sides

        def read(index: int, path: str) -> bytes:
            try:
                return artifact_bytes(store, sides[index].record, path)
            except MlopsError as exc:
                raise OSError(str(exc)) from exc

        def size(index: int, path: str) -> int | None:
            try:
                return artifact_size(store, sides[index].record, path)
            except MlopsError as exc:
                raise OSError(str(exc)) from exc

        artifacts.write_report(html_path, to_html(comparison, read, size))
        typer.echo(f"wrote {html_path}", err=True)
    if json_out:
        print_json(comparison.to_json())
    elif markdown:
        print_text(to_markdown(comparison))
    else:
        print_text(to_text(comparison))
    if fail_on_regression and not comparison.verdict.passed:
        raise typer.Exit(3)
