"""`mlops card` (the model card) and `mlops explain` (per-row contributions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops.cli import completion
from mlops.cli.state import options

PANEL = "Registry"


def card(
    ctx: typer.Context,
    ref: Annotated[
        str | None,
        typer.Argument(
            metavar="VERSION|@ALIAS",
            help="Version or @alias \\[default: @champion, else the last trained model].",
            autocompletion=completion.model_refs,
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Exit 3 while the card has TODOs (the card is written)."),
    ] = False,
) -> None:
    """Write reports/model_card.md and a self-contained reports/model_card.html."""
    from mlops import threads
    from mlops.card import write_card

    opts = options(ctx)
    project = opts.project()
    with threads.limited(project.params.train.n_jobs):
        result = write_card(project, opts.store(), ref)
    for todo in result.todos:
        typer.echo(f"TODO {todo}", err=True)
    typer.echo(
        f"card -> {result.markdown_path}, {result.html_path} ({result.seconds:.1f}s)", err=True
    )
    typer.echo(str(result.markdown_path))
    if check and result.todos:
        typer.echo(f"card check FAILED: {len(result.todos)} TODO(s) left", err=True)
        raise typer.Exit(3)


def explain(
    ctx: typer.Context,
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="Rows to explain: .csv or .parquet.")
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Model URI or directory \\[default: the champion].",
            autocompletion=completion.model_uris,
        ),
    ] = None,
    rows: Annotated[int, typer.Option("--rows", help="Explain the first N rows (<= 100).")] = 10,
    top: Annotated[int, typer.Option("--top", min=1, help="Contributions shown per row.")] = 5,
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Explain predictions row by row: each feature replaced by its training median/mode."""
    from mlops import threads
    from mlops.card import explain_file
    from mlops.cli.state import print_json, stdout

    opts = options(ctx)
    project = opts.project()
    with threads.limited(project.params.train.n_jobs):
        result = explain_file(
            project, opts.store(), input_path, model_uri=model, rows=rows, top=top
        )
    if json_out:
        print_json(result.to_json())
        return
    from rich.table import Table

    table = Table(title=f"Top contributions ({result.method}; {result.model_uri})")
    for column in ("row", "prediction", "score", "feature", "contribution"):
        table.add_column(column, justify="left" if column in ("prediction", "feature") else "right")
    for row in result.rows:
        for i, item in enumerate(row.top):
            first = i == 0
            table.add_row(
                str(row.row) if first else "",
                str(row.prediction) if first else "",
                f"{row.score:.4f}" if first else "",
                item.feature,
                f"{item.contribution:+.4f}",
            )
    stdout().print(table)


CARD_EXAMPLES = """\b\nExamples:
  mlops card
  mlops card @champion
  mlops card 3 --check"""
EXPLAIN_EXAMPLES = """\b\nExamples:
  mlops explain data/processed/test.parquet --rows 3 --top 3 --json"""


def register(app: typer.Typer) -> None:
    app.command("card", rich_help_panel=PANEL, epilog=CARD_EXAMPLES)(card)
    app.command("explain", rich_help_panel="Model", epilog=EXPLAIN_EXAMPLES)(explain)
