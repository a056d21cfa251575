"""`mlops data ...`: ingest, scan, validate, split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops.cli.state import options

app = typer.Typer(
    help="Ingest, scan, validate and split the dataset; version it with DVC.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def ingest(ctx: typer.Context) -> None:
    """Read the configured source into data/raw/ as Parquet and freeze its schema contract."""
    from mlops.data import ingest as run_ingest

    result = run_ingest(options(ctx).project(check_schema=False))
    schema = result.schema
    typer.echo(
        f"ingested {schema.rows} rows x {len(schema.columns)} columns from {schema.source} "
        f"-> {result.raw_path} (contract: {result.schema_path}, {len(schema.features)} features)"
    )
    for name, why in schema.identifiers().items():
        typer.echo(f"not a feature: {name!r} ({why}); list it in data.features to use it", err=True)


@app.command(
    epilog="\b\nExamples:\n  mlops data scan data/source/customers.csv\n  mlops data scan x.parquet --json"
)
def scan(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV or Parquet file to scan.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Classify each column of a file as personal data or not (exit 3 if any is undecided).

    Inside a project the decisions come from params.yaml `data.pii`; elsewhere every flagged
    column is undecided.
    """
    from mlops.cli.state import print_json, stdout
    from mlops.data.ingest import scan_source
    from mlops.project import find_root

    opts = options(ctx)
    inside = opts.project_dir is not None or find_root() is not None
    params = opts.project(check_schema=False).params.data if inside else None
    report = scan_source(path, params)
    if json_out:
        print_json(report.to_json())
    elif report.findings:
        from rich.table import Table

        table = Table(title=f"Personal data in {report.path}")
        for column in ("column", "kind", "share", "decision", "evidence"):
            table.add_column(column, overflow="fold")
        for f in report.findings:
            table.add_row(f.column, f.kind, f"{f.share:.0%}", f.decision or "undecided", f.evidence)
        stdout().print(table)
    pending = report.undecided
    verdict = (
        f"undecided personal data in {', '.join(f.column for f in pending)}: decide each in "
        "params.yaml data.pii: {column: drop | hash | keep}"
        if pending
        else f"{len(report.findings)} personal column(s), all decided"
        if report.findings
        else "no personal data found"
    )
    typer.echo(
        f"scan: {verdict} ({report.rows:,} rows, {report.columns} columns, {report.seconds:.2f} s)",
        err=json_out,
    )
    if pending:
        raise typer.Exit(3)


@app.command()
def validate(
    ctx: typer.Context,
    path: Annotated[
        Path | None, typer.Argument(help="CSV or Parquet to check \\[default: the ingested data].")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check a dataset against the schema contract; report every violation (exit 3 if any)."""
    from mlops.cli.state import fmt, print_json, stdout
    from mlops.data import validate as run_validate

    opts = options(ctx)
    report = run_validate(opts.project(), path)
    if json_out:
        print_json(report.to_json())
    elif report.violations:
        from rich.table import Table

        table = Table(title=f"Schema violations in {report.dataset}")
        for column in ("column", "check", "expected", "actual", "count", "rows"):
            # Fold, never cut a value off with "…"; check names stay whole (grep-able).
            width = max(len(v.check) for v in report.violations) if column == "check" else None
            table.add_column(column, overflow="fold", min_width=width)
        for v in report.violations:
            rows = ", ".join(map(str, v.rows))
            table.add_row(v.column, v.check, v.expected, v.actual, fmt(v.count or None), rows)
        stdout().print(table)
    verdict = "passed" if report.passed else f"FAILED: {len(report.violations)} violation(s)"
    # With --json, stdout is only the JSON document; the verdict line goes to stderr.
    unlabelled = f"; {report.unlabelled_rows} without a target" if report.unlabelled_rows else ""
    typer.echo(
        f"validation {verdict} ({report.rows} rows{unlabelled}, {report.checked_columns} columns)",
        err=json_out,
    )
    if not report.passed:
        raise typer.Exit(3)


@app.command()
def split(ctx: typer.Context) -> None:
    """Split the ingested data into seeded train/test Parquet files (stratified or by order)."""
    from mlops.data import split as run_split

    result = run_split(options(ctx).project())
    typer.echo(
        f"split: {result.train_rows} train rows -> {result.train_path}, "
        f"{result.test_rows} test rows -> {result.test_path}"
        + (f"; {result.dropped_rows} rows without a target dropped" if result.dropped_rows else "")
    )


@app.command()
def verify(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Rehash DVC-tracked data and the cache against dvc.lock; exit 3 on anything corrupt or missing."""
    from mlops.cli.state import print_json, stdout
    from mlops.data.versioning import verify as run_verify

    report = run_verify(options(ctx).project())
    if json_out:
        print_json(report.to_json())
    elif report.problems:
        from rich.table import Table

        table = Table(title="DVC objects that do not match dvc.lock")
        for column in ("path", "stage", "workspace", "cache", "detail"):
            table.add_column(column)
        for item in report.problems:
            table.add_row(item.path, item.stage, item.workspace, item.cache, item.detail)
        stdout().print(table)
    bad = len(report.problems)
    typer.echo(
        f"verify {'passed' if report.passed else f'FAILED: {bad} problem(s)'} "
        f"({len(report.objects)} tracked outputs checked)",
        err=json_out,  # with --json, stdout carries only the JSON
    )
    if not report.passed:
        raise typer.Exit(3)


@app.command()
def push(ctx: typer.Context) -> None:
    """Push DVC-cached data and models to the configured remote."""
    from mlops.data.versioning import push as run_push

    typer.echo(f"pushed {run_push(options(ctx).project())} object(s)")


@app.command()
def pull(ctx: typer.Context) -> None:
    """Pull data and models from the remote, then verify them against dvc.lock (exit 3 if bad)."""
    from mlops.data.versioning import pull as run_pull
    from mlops.data.versioning import verify as run_verify

    project = options(ctx).project()
    stats = run_pull(project)
    typer.echo(f"pulled: {stats}")
    report = run_verify(project)
    if not report.passed:
        typer.echo(
            f"verify FAILED after pull: {len(report.problems)} problem(s); see `mlops data verify`"
        )
        raise typer.Exit(3)
    typer.echo("verify passed")


@app.command()
def status(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show what differs between the workspace, the DVC cache and the remote."""
    from mlops.cli.state import print_json
    from mlops.data.versioning import status as run_status

    result = run_status(options(ctx).project())
    if json_out:
        print_json(result)
        return
    for scope, changes in result.items():
        typer.echo(f"{scope}: {changes or 'up to date'}")
