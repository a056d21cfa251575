"""`mlops data ...`: ingest, validate, split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops.cli.state import options

app = typer.Typer(
    help="Ingest, validate and split the dataset.", no_args_is_help=True, add_completion=False
)


@app.command()
def ingest(ctx: typer.Context) -> None:
    """Read the configured source into data/raw/ as Parquet and freeze its schema contract."""
    from mlops.data import ingest as run_ingest

    result = run_ingest(options(ctx).load())
    schema = result.schema
    typer.echo(
        f"ingested {schema.rows} rows x {len(schema.columns)} columns from {schema.source} "
        f"-> {result.raw_path} (contract: {result.schema_path}, {len(schema.features)} features)"
    )


@app.command()
def validate(
    ctx: typer.Context,
    path: Annotated[
        Path | None, typer.Argument(help="CSV or Parquet to check [default: the ingested data].")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check a dataset against the schema contract; report every violation (exit 3 if any)."""
    from mlops.cli.state import fmt, print_json, stdout
    from mlops.data import validate as run_validate

    opts = options(ctx)
    report = run_validate(opts.load(), path)
    if json_out:
        print_json(report.to_json())
    elif report.violations:
        from rich.table import Table

        table = Table(title=f"Schema violations in {report.dataset}")
        for column in ("column", "check", "expected", "actual", "count", "rows"):
            table.add_column(column)
        for v in report.violations:
            rows = ", ".join(map(str, v.rows))
            table.add_row(v.column, v.check, v.expected, v.actual, fmt(v.count or None), rows)
        stdout().print(table)
    verdict = "passed" if report.passed else f"FAILED: {len(report.violations)} violation(s)"
    typer.echo(f"validation {verdict} ({report.rows} rows, {report.checked_columns} columns)")
    if not report.passed:
        raise typer.Exit(3)


@app.command()
def split(ctx: typer.Context) -> None:
    """Split the ingested data into seeded train/test Parquet files (stratified or by order)."""
    from mlops.data import split as run_split

    result = run_split(options(ctx).load())
    typer.echo(
        f"split: {result.train_rows} train rows -> {result.train_path}, "
        f"{result.test_rows} test rows -> {result.test_path}"
    )
