"""`mlops drift`: compare a batch with the reference data, per column, and give a verdict."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlops.cli.state import options

if TYPE_CHECKING:
    from mlops.drift import ColumnDrift, DriftReport

PANEL = "Monitoring"
STYLES = {
    "drift": "bold red",
    "no_drift": "green",
    "insufficient_data": "dim",
    "schema_mismatch": "bold magenta",
}


def _report_path(value: Path | None) -> Path | None:
    """A report path, not the next option swallowed (`--json --no-fail` wrote `./--no-fail`)."""
    if value is not None and str(value).startswith("--"):
        raise typer.BadParameter(
            f"{str(value)!r} is an option, not a path: give a file (`--json -` prints the report)"
        )
    return value


def drift(
    ctx: typer.Context,
    reference: Annotated[
        Path | None,
        typer.Option(
            "--reference",
            help="Reference CSV/Parquet \\[default: the champion's training data, else the "
            "train split].",
        ),
    ] = None,
    current: Annotated[
        Path | None,
        typer.Option("--current", help="Batch to check \\[default: drift.current in params.yaml]."),
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json",
            help="Write the JSON report here ('-': print it) \\[default: reports/drift.json].",
            callback=_report_path,
        ),
    ] = None,
    html_path: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Write the HTML report here \\[default: reports/drift.html].",
            callback=_report_path,
        ),
    ] = None,
    fail: Annotated[
        bool,
        typer.Option(
            "--fail/--no-fail",
            help="Exit 3 on dataset drift, or on too little data to test when "
            "drift.fail_on_insufficient is true (--no-fail: only report).",
        ),
    ] = True,
) -> None:
    """Test each column of a batch for drift against the reference; exit 3 on dataset drift.

    A batch too small to test also exits 3, unless drift.fail_on_insufficient is false.
    """
    from mlops.drift import run_drift

    to_stdout = json_path == Path("-")
    opts = options(ctx)
    result = run_drift(
        opts.project(),
        opts.store(),
        reference=reference,
        current=current,
        json_path=None if to_stdout else json_path,
        html_path=html_path,
    )
    report = result.report
    if to_stdout:
        from mlops.cli.state import print_json

        print_json(report.to_json())
    else:
        _print_table(report)
    typer.echo(f"reports -> {result.json_path}, {result.html_path}", err=True)
    # With `--json -` stdout carries only the JSON; the verdict line goes to stderr.
    verdict = f"{report.verdict.replace('_', ' ')}: {'; '.join(report.reasons)}"
    typer.echo(verdict, err=to_stdout)
    if report.failed and fail:
        raise typer.Exit(3)


def _row(column: ColumnDrift) -> list[str]:
    from mlops.cli.state import fmt

    p_value = column.p_value_adjusted if column.p_value_adjusted is not None else column.p_value
    missing = f"{column.reference.missing_rate:.1%}->{column.current.missing_rate:.1%}"
    notes = []
    if column.missing_shift:
        notes.append("missing-rate shift")
    if column.unseen_count:
        notes.append(f"{column.unseen_count} unseen: {', '.join(column.unseen_categories[:3])}")
    if column.vanished_count:
        shown = ", ".join(column.vanished_categories[:3])
        notes.append(f"{column.vanished_count} vanished: {shown}")
    if column.all_missing:
        notes.append(column.reason)
    if column.verdict in ("schema_mismatch", "insufficient_data"):
        notes.append(column.reason)
    style = STYLES[column.verdict]
    return [
        column.column,
        f"[{style}]{column.verdict}[/]",
        column.method or "-",
        fmt(column.statistic),
        fmt(p_value),
        fmt(column.threshold),
        fmt(column.effect_size),
        missing,
        "; ".join(notes),
    ]


#: Feature rows the terminal table shows (the most severe first).
TABLE_ROWS = 50


def _print_table(report: DriftReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    from mlops.cli.state import stdout

    summary = report.summary
    table = Table(
        title=f"Drift: {escape(report.current.path)} vs {escape(report.reference.path)} "
        f"({summary.drifted}/{summary.tested} columns drifted)"
    )
    for name, justify in (
        ("column", "left"),
        ("verdict", "left"),
        ("method", "left"),
        ("statistic", "right"),
        ("p (adj.)", "right"),
        ("threshold", "right"),
        ("effect", "right"),
        ("missing", "right"),
        ("notes", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    columns = report.all_columns()
    features = [c for c in columns if c.role == "feature"]
    # Features come most severe first: a wide file shows its worst columns, the rest are in
    # the JSON/HTML reports (rendering 10,000 rows took longer than computing them).
    hidden = max(0, len(features) - TABLE_ROWS)
    shown = [*features[:TABLE_ROWS], *(c for c in columns if c.role != "feature")]
    for column in shown:
        cells = _row(column)
        cells[0] = escape(cells[0] if column.role != "target" else f"{cells[0]} (target)")
        cells[-1] = escape(cells[-1])
        table.add_row(*cells)
    if hidden:
        table.caption = f"{hidden} more columns, less severe: see the JSON and HTML reports"
    console = stdout()
    if not console.is_terminal:  # logs and pipes: no 80-column squeeze
        console.width = max(console.width, 140)
    console.print(table)
    console.print(f"reference: {escape(report.reference.origin_reason)}", style="dim")
    if report.prediction_note:
        console.print(escape(report.prediction_note), style="dim")
    if report.target_note:
        console.print(escape(report.target_note), style="dim")
    if report.ignored:
        ignored = ", ".join(f"{i.column} ({i.reason})" for i in report.ignored)
        console.print(f"not compared: {escape(ignored)}", style="dim")


EXAMPLES = """\b\nExamples:
  mlops drift --current data/incoming/batch.csv
  mlops drift --current batch.parquet --json - | jq .verdict
  mlops drift --reference train.parquet --current batch.csv --no-fail"""


def register(app: typer.Typer) -> None:
    app.command("drift", rich_help_panel=PANEL, epilog=EXAMPLES)(drift)
