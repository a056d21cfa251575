"""`mlops tune`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from mlops.cli.state import options

if TYPE_CHECKING:
    from mlops.tune import Progress

PANEL = "Model"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _show(progress: Progress) -> None:
    best = (
        f"best {progress.metric} {progress.best:.4f} ± {progress.best_std or 0.0:.4f}"
        if progress.best is not None
        else "no complete trial yet"
    )
    eta = f"  ETA {_clock(progress.eta_seconds)}" if progress.eta_seconds is not None else ""
    state = "" if progress.state == "COMPLETE" else f"  ({progress.state.lower()})"
    typer.echo(f"trial {progress.done}/{progress.total}  {best}{eta}{state}", err=True)


def tune(
    ctx: typer.Context,
    trials: Annotated[
        int | None,
        typer.Option(
            "--trials", "-n", min=1, help="Trials in the study in all \\[default: tune.trials]."
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", min=0.001, help="Seconds to start trials for \\[default: tune.timeout]."
        ),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            metavar="local:N|tcp://HOST:PORT",
            help="Run trials on Dask: N local worker processes, or a running scheduler "
            "\\[default: tune.cluster of the config; none: in-process].",
        ),
    ] = None,
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Write the best hyperparameters into params.yaml."),
    ] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start the study over instead of resuming it.")
    ] = False,
    study: Annotated[
        str | None,
        typer.Option(
            "--study", help="Study name \\[default: derived from the space, data and CV]."
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Search tune.space with Optuna (k-fold CV on the training split); resumes the study."""
    from mlops.cli.state import print_json
    from mlops.tune import apply_params, run_tuning

    opts = options(ctx)
    project = opts.project()
    show = _show if sys.stderr.isatty() and not opts.quiet else None
    result = run_tuning(
        project,
        opts.store(),
        trials_wanted=trials,
        timeout=timeout,
        cluster_spec=cluster,
        study_name=study,
        fresh=fresh,
        progress=show,
    )
    applied = apply_params(project, result.best_params) if apply else None
    if json_out:
        print_json({**result.to_json(), "applied": str(applied) if applied else None})
    else:
        params = ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in result.best_params.items()
        )
        typer.echo(
            f"best {result.metric} {result.best_value:.4f} ± {result.best_std:.4f} "
            f"(trial {result.best_trial}): {params}"
        )
        typer.echo(
            f"trials: {result.complete} complete, {result.pruned} pruned, {result.failed} failed "
            f"({result.new} this run); report -> {result.report}; parent run {result.parent_run_id}",
            err=True,
        )
    if applied is not None:
        key = project.params.model.params_key()
        typer.echo(f"applied to {applied} ({key}); `dvc repro` retrains with them", err=True)


EXAMPLES = """\b\nExamples:
  mlops tune --trials 30
  mlops tune --cluster local:2 --apply && dvc repro
  mlops tune --fresh --timeout 600 --json"""


def register(app: typer.Typer) -> None:
    app.command("tune", rich_help_panel=PANEL, epilog=EXAMPLES)(tune)
