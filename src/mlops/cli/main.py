"""The `mlops` entry point: global options, command groups, and the one error boundary."""

from __future__ import annotations

import logging
import os
import signal
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mlops import __version__
from mlops.cli import card as card_cli
from mlops.cli import ci as ci_cli
from mlops.cli import completion
from mlops.cli import data as data_cli
from mlops.cli import doctor as doctor_cli
from mlops.cli import drift as drift_cli
from mlops.cli import init as init_cli
from mlops.cli import model as model_cli
from mlops.cli import monitor as monitor_cli
from mlops.cli import pipeline as pipeline_cli
from mlops.cli import promote as promote_cli
from mlops.cli import runs as runs_cli
from mlops.cli import serve as serve_cli
from mlops.cli import tune as tune_cli
from mlops.cli.state import GlobalOptions, setup_logging


def _no_type_for_flags() -> None:
    """A flag takes no value: its type column stays empty (Typer 0.29 prints `<bool>` there,
    down to `--help -h <bool>`), as in Click's help and Typer's before."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None:
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) and self.metavar is None:
            return None
        return shown(self, ctx)  # type: ignore[no-any-return]

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_no_type_for_flags()


class MlopsGroup(TyperGroup):
    """The root command: plain, fast help grouped by panel, and the one error boundary.

    `mlops --help` is printed without rich (importing and rendering rich panels costs more
    than the rest of the CLI's start-up); the commands are still grouped by their panel.
    """

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        self.format_options(ctx, formatter)
        self.format_epilog(ctx, formatter)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            typer.echo(ctx.get_help(), err=True)  # plain help is not printed by Typer's handler
            raise typer.Exit(2)
        return super().parse_args(ctx, args)  # type: ignore[no-any-return]

    def _main_shell_completion(
        self, ctx_args: Any, prog_name: str, complete_var: str | None = None
    ) -> None:
        """`_MLOPS_COMPLETE=...`: bash words split at `=`/`:` are completed whole.

        Typer's own (private) hook for the completion request: no public one exists. Were it
        renamed, this is never called and bash completes as Typer does (see completion.py)."""
        completion.use_bash_word_breaks()
        super()._main_shell_completion(ctx_args, prog_name, complete_var)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        panels: dict[str, list[tuple[str, str]]] = {}
        commands = [(name, self.get_command(ctx, name)) for name in self.list_commands(ctx)]
        visible = [(name, cmd) for name, cmd in commands if cmd is not None and not cmd.hidden]
        if not visible:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in visible)
        for name, cmd in visible:
            panel = getattr(cmd, "rich_help_panel", None) or "Commands"
            panels.setdefault(panel, []).append((name, cmd.get_short_help_str(limit)))
        order = ["Data", "Model", "Registry", "Monitoring", "Serving", "Operations"]
        ranked = sorted(panels.items(), key=lambda item: [*order, item[0]].index(item[0]))
        for panel, rows in ranked:
            with formatter.section(panel):
                formatter.write_dl(rows)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """Also notes the command's name for the logs: `train`, `data ingest`, ..."""
        name, command, rest = super().resolve_command(ctx, args)
        full = name
        if command is not None and hasattr(command, "list_commands"):
            known = set(command.list_commands(ctx))
            leaf = next((arg for arg in rest if not arg.startswith("-")), None)
            if leaf in known:
                full = f"{name} {leaf}"
        ctx.meta["mlops.command"] = full
        if name == "serve":  # the server drains in-flight requests for longer than the grace
            from mlops import interrupts

            interrupts.disarm()
        return name, command, rest

    def invoke(self, ctx: Any) -> Any:
        """Turns `MlopsError` into `error: ...` lines on stderr (one per problem of a config
        error, else one) and its exit code; in JSON log format, one JSON line per problem."""
        from mlops.errors import MlopsError, redact_secrets

        try:
            return super().invoke(ctx)
        except MlopsError as exc:
            if os.environ.get("MLOPS_DEBUG") == "1":
                raise
            problems = getattr(exc, "problems", None) or [str(exc)]
            for problem in problems:
                message = redact_secrets(str(problem)).replace("\n", " ")
                _report_error(message, exc, int(exc.exit_code))
            raise typer.Exit(int(exc.exit_code)) from None
        except OSError as exc:  # the file system said no: disk full, read-only, a directory
            if os.environ.get("MLOPS_DEBUG") == "1":
                raise
            _report_error(redact_secrets(_os_error(exc)), exc, 1)
            raise typer.Exit(1) from None


def _report_error(message: str, exc: BaseException, exit_code: int) -> None:
    """`error: message` on stderr; in JSON log format a record with the error's type and code."""
    from mlops.logs import active_format

    if active_format() == "json":
        extra = {"error": type(exc).__name__, "exit_code": exit_code}
        logging.getLogger("mlops.cli").error(message, extra=extra)
    else:
        typer.echo(f"error: {message}", err=True)


def _os_error(exc: OSError) -> str:
    """`path: reason` for a file-system error (the path the system call named, if any)."""
    reason = exc.strerror or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    where = " -> ".join(paths)
    return f"{where}: {reason}" if where else f"{reason} ({type(exc).__name__})"


#: The root help's Examples (printed by Click as is: `\b` keeps the lines apart).
EXAMPLES = """\b
Examples:
  mlops init demo --source builtin:penguins --target species && cd demo
  make run                      # dvc repro, promote, drift
  mlops --set model.estimator=random_forest train
  mlops promote --dry-run       # would this run become the champion?
  mlops serve                   # the champion on http://127.0.0.1:8080
  mlops --install-completion    # Tab completion in bash, zsh, fish

Run `mlops COMMAND --help` for a command's options and examples."""

app = typer.Typer(
    name="mlops",
    cls=MlopsGroup,
    help="Local MLOps toolkit: data -> train -> eval -> promote, in MLflow and DVC.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    epilog=EXAMPLES,
    # Wide terminals get whole lines (Click stops at 80 columns by default).
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 200},
)


class LogFormat(StrEnum):
    text = "text"
    json = "json"


#: What `mlops --version` lists beside itself (like `dvc doctor`): read from package metadata,
#: nothing imported.
VERSION_PACKAGES = ("mlflow", "dvc", "scikit-learn", "pandas", "pyarrow", "skops", "optuna")


def _version(value: bool) -> None:
    if value:
        import platform
        from importlib import metadata

        lines = [f"mlops {__version__}", f"python {platform.python_version()}"]
        for name in VERSION_PACKAGES:
            try:
                lines.append(f"{name} {metadata.version(name)}")
            except metadata.PackageNotFoundError:
                lines.append(f"{name} (not installed)")
        typer.echo("\n".join(lines))
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    project: Annotated[
        Path | None,
        typer.Option(
            "--project",
            envvar="MLOPS_PROJECT",
            help="Project root [default: the nearest folder upwards with params.yaml].",
        ),
    ] = None,
    params: Annotated[
        Path | None,
        typer.Option("--params", help="Experiment parameters [default: <root>/params.yaml]."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="MLOPS_CONFIG",
            help="Environment config [default: <root>/configs/local.yaml].",
        ),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY.PATH=VALUE",
            help="Override a param for this run (recorded).",
            autocompletion=completion.overrides,
        ),
    ] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More logging on stderr.")
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")] = False,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format",
            envvar="MLOPS_LOG_FORMAT",
            case_sensitive=False,
            help="Logs on stderr as text lines or one JSON object per line.",
        ),
    ] = LogFormat.text,
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
        project_dir=project,
        params=params,
        config=config,
        overrides=list(overrides or []),
        verbose=verbose,
        quiet=quiet,
        allow_unsafe_model=allow_unsafe_model,
    )
    setup_logging(verbose, quiet, log_format.value, command=ctx.meta.get("mlops.command"))


init_cli.register(app)
app.add_typer(data_cli.app, name="data", rich_help_panel="Data")
model_cli.register(app)
app.add_typer(runs_cli.app, name="runs", rich_help_panel="Model")
tune_cli.register(app)
serve_cli.register(app)
drift_cli.register(app)
monitor_cli.register(app)
promote_cli.register(app)
card_cli.register(app)
doctor_cli.register(app)
app.add_typer(pipeline_cli.app, name="pipeline", rich_help_panel=pipeline_cli.PANEL)
app.add_typer(ci_cli.app, name="ci", rich_help_panel=ci_cli.PANEL)


def run() -> None:
    """Console-script entry point.

    SIGTERM unwinds like Ctrl-C (tracked runs end KILLED, temp files are removed, child
    processes are stopped) and the exit code says which: 130 for SIGINT, 143 for SIGTERM. A
    second signal, or an unwind still going 5 s after the first, ends the process at once.
    """
    from mlops import interrupts

    # Models are loaded through our skops allowlist; MLflow's own unpickling stays off.
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    interrupts.install()
    try:
        code = app(prog_name="mlops")
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, int) or code is None:
        code = interrupts.exit_code(code or 0)
        signum = interrupts.received()
        if signum is not None and code == 128 + signum:
            typer.echo(f"error: interrupted by {signal.Signals(signum).name}", err=True)
    sys.exit(code)
