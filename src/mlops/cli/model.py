"""`mlops train` and `mlops eval`."""

from __future__ import annotations

from typing import Annotated

import typer

from mlops.cli.state import options

PANEL = "Model"


def train(ctx: typer.Context) -> None:
    """Fit the sklearn pipeline from params.yaml and track the run in MLflow."""
    from mlops.train import run_training

    result = run_training(options(ctx).project(), options(ctx).store())
    typer.echo(
        f"fit in {result.fit_seconds:.2f}s; model -> {result.model_path} ({result.model_uri})",
        err=True,
    )
    typer.echo(result.run_id)


def evaluate(
    ctx: typer.Context,
    gate: Annotated[
        bool,
        typer.Option("--gate/--no-gate", help="Exit 3 when a gate fails (--no-gate: only report)."),
    ] = True,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print metrics and gates as JSON.")
    ] = False,
    cv: Annotated[
        int | None,
        typer.Option(
            "--cv",
            metavar="K",
            min=2,
            help="Also estimate each metric by K-fold cross-validation on the training split "
            "(mean ± std; the test split is not used for it).",
        ),
    ] = None,
) -> None:
    """Score the model on the test split, write reports and plots, and apply the gates."""
    from mlops.cli.state import fmt, print_json, stdout
    from mlops.evaluate import run_evaluation

    result = run_evaluation(options(ctx).project(), options(ctx).store(), cv=cv)
    if json_out:
        payload = {
            "run_id": result.run_id,
            "metrics": result.metrics,
            "gate": result.gate.to_json(),
        }
        if result.cv is not None:
            payload["cv"] = result.cv.to_json()
        print_json(payload)
    else:
        from rich.table import Table

        table = Table(title=f"Test metrics (run {result.run_id})")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for name, value in result.metrics.items():
            table.add_row(name, fmt(value))
        if result.cv is not None:
            for name, mean in result.cv.mean.items():
                table.add_row(
                    f"cv {name} ({result.cv.folds} folds, train split)",
                    f"{fmt(mean)} ± {fmt(result.cv.std[name])}",
                )
        for check in result.gate.results:
            table.add_row(
                f"gate {check.name} {check.threshold}", "pass" if check.passed else "FAIL"
            )
        stdout().print(table)
        for note in result.gate.notes:
            typer.echo(f"note: {note}")
    # With --json, stdout is only the JSON document; the verdict line goes to stderr.
    if result.gate.passed:
        typer.echo("gate passed", err=json_out)
        return
    failed = ", ".join(
        f"{r.name}={fmt(r.value)} (needs {r.threshold})" for r in result.gate.failures
    )
    typer.echo(f"gate FAILED: {failed}", err=json_out)
    if gate:
        raise typer.Exit(3)


TRAIN_EXAMPLES = """\b\nExamples:
  mlops train
  mlops --set model.estimator=random_forest train
  mlops --set model.params.max_iter=500 train && mlops eval
  dvc exp run -S model.estimator=extra_trees   # as a DVC experiment"""


def register(app: typer.Typer) -> None:
    app.command("train", rich_help_panel=PANEL, epilog=TRAIN_EXAMPLES)(train)
    app.command("eval", rich_help_panel=PANEL)(evaluate)
