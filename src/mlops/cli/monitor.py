"""`mlops monitor`: drift (and live metrics, with labels) of the traffic `mlops serve` captured."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlops.cli.state import options

if TYPE_CHECKING:
    from mlops.monitor import MonitorResult

PANEL = "Monitoring"


def monitor(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DURATION",
            help="Only rows captured in the last DURATION (30m, 1h, 2d, ...).",
        ),
    ] = None,
    window: Annotated[
        int | None,
        typer.Option("--window", metavar="ROWS", min=1, help="Only the last ROWS captured rows."),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            metavar="FILE",
            help="CSV/Parquet of true labels (the target column, or 'label'), joined on "
            "request_id (and row) or --label-key: live metrics against the gate.",
        ),
    ] = None,
    label_key: Annotated[
        str | None,
        typer.Option(
            "--label-key", metavar="COLUMN", help="Join labels on this column, not request_id."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the monitor summary as JSON.")
    ] = False,
) -> None:
    """Check served traffic for drift against the champion's reference; exit 3 on drift or a
    failed live gate."""
    from mlops.monitor import parse_duration, run_monitor

    opts = options(ctx)
    result = run_monitor(
        opts.project(),
        opts.store(),
        since=parse_duration(since) if since is not None else None,
        window=window,
        labels=labels,
        label_key=label_key,
    )
    if as_json:
        from mlops.cli.state import print_json

        print_json(result.summary)
    else:
        typer.echo(_lines(result))
    typer.echo(f"reports -> {result.directory}, {result.textfile}", err=True)
    if not result.passed:
        raise typer.Exit(3)


def _lines(result: MonitorResult) -> str:
    report = result.report
    summary = report.summary
    lines = [
        f"{summary.current_rows} captured rows vs {report.reference.path} "
        f"({report.reference.origin_reason})",
        f"drift: {report.verdict.replace('_', ' ')}: {'; '.join(report.reasons)}",
    ]
    if summary.prediction_drift is None:
        lines.append(report.prediction_note or "prediction drift not tested")
    else:
        distance = result.summary["drift"]["prediction_distance"]
        shown = f" (prediction: distance {distance:.4g})" if isinstance(distance, float) else ""
        drifted = [c.column for c in report.prediction if c.verdict == "drift"]
        verdict = f"drift in {', '.join(drifted)}" if drifted else "no drift"
        lines.append(f"prediction drift: {verdict}{shown}")
    live = result.live
    if live is not None:
        values = ", ".join(
            f"{name} {value:.4g}"
            + (f" (test {live.test_metrics[name]:.4g})" if name in live.test_metrics else "")
            for name, value in live.metrics.items()
            if name in live.gate_metrics
        )
        state = "passed" if live.passed else "FAILED"
        lines.append(f"live gate {state} on {live.joined_rows} labelled rows: {values}")
        lines.extend(f"note: {note}" for note in live.notes)
    failed = [
        *(["dataset drift"] if report.drift else []),
        *(["prediction drift"] if result.prediction_drift else []),
        *(["live gate failed"] if live is not None and not live.passed else []),
    ]
    lines.append(f"monitor: {', '.join(failed) if failed else 'ok'}")
    return "\n".join(lines)


EXAMPLES = """\b\nExamples:
  mlops monitor --since 1h
  mlops monitor --window 10000 --labels labels.csv"""


def register(app: typer.Typer) -> None:
    app.command("monitor", rich_help_panel=PANEL, epilog=EXAMPLES)(monitor)
