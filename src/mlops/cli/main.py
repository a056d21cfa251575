"""The `mlops` entry point: global options, command groups, and the one error boundary."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mlops import __version__
from mlops.cli import data as data_cli
from mlops.cli import doctor as doctor_cli
from mlops.cli import drift as drift_cli
from mlops.cli import model as model_cli
from mlops.cli import promote as promote_cli
from mlops.cli import serve as serve_cli
from mlops.cli.state import GlobalOptions, setup_logging


class MlopsGroup(TyperGroup):
    """Turns `MlopsError` into one `error: ...` line on stderr and its exit code."""

    def invoke(self, ctx: Any) -> Any:
        from mlops.errors import MlopsError, redact_secrets

        try:
            return super().invoke(ctx)
        except MlopsError as exc:
            if os.environ.get("MLOPS_DEBUG") == "1":
                raise
            message = redact_secrets(str(exc)).replace("\n", " ")
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(int(exc.exit_code)) from None


app = typer.Typer(
    name="mlops",
    cls=MlopsGroup,
    help="Local MLOps toolkit: data -> train -> eval -> promote, in MLflow and DVC.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlops {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    params: Annotated[
        Path, typer.Option("--params", help="Experiment parameters (what DVC tracks).")
    ] = Path("params.yaml"),
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="MLOPS_CONFIG",
            help="Environment config (default configs/local.yaml): paths, tracking URI, model name.",
        ),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="KEY.PATH=VALUE", help="Override a param for this run (recorded)."
        ),
    ] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More logging on stderr.")
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")] = False,
    allow_unsafe_model: Annotated[
        bool,
        typer.Option(
            "--allow-unsafe-model",
            envvar="MLOPS_ALLOW_UNSAFE_MODEL",
            help="Load pickle/cloudpickle models or types beyond the allowlist (you accept the risk).",
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Local MLOps toolkit: data -> train -> eval -> promote, in MLflow and DVC."""
    ctx.obj = GlobalOptions(
        params=params, config=config, overrides=list(overrides or []), verbose=verbose, quiet=quiet
    )
    setup_logging(verbose, quiet)
    if allow_unsafe_model:
        os.environ["MLOPS_ALLOW_UNSAFE_MODEL"] = "1"


app.add_typer(data_cli.app, name="data", rich_help_panel="Data")
model_cli.register(app)
serve_cli.register(app)
drift_cli.register(app)
promote_cli.register(app)
doctor_cli.register(app)


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C: tracked runs end KILLED, temp files are removed."""
    raise KeyboardInterrupt(f"signal {signum}")


def run() -> None:
    """Console-script entry point."""
    # Models are loaded through our skops allowlist; MLflow's own unpickling stays off.
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(app(prog_name="mlops"))
