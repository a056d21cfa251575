"""`mlops predict` (batch scoring of a file) and `mlops serve` (the HTTP scoring server)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlops.cli import completion
from mlops.cli.state import options

if TYPE_CHECKING:
    from mlops.predict import PredictResult

PANEL = "Serving"
#: Same as `mlops.predict.DEFAULT_BATCH_SIZE` (not imported: `--help` stays light).
DEFAULT_BATCH_SIZE = 65_536

ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        metavar="URI",
        help="Model to use: models:/<name>@<alias>, models:/<name>/<version>, or a model "
        "directory \\[default: @champion of registry.model_name].",
        autocompletion=completion.model_uris,
    ),
]


def predict(
    ctx: typer.Context,
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="Rows to score: .csv or .parquet.")
    ],
    output_path: Annotated[
        Path,
        typer.Argument(
            metavar="OUTPUT", help="Where to write the input plus predictions: .parquet or .csv."
        ),
    ],
    model: ModelOption = None,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, help="Rows per chunk: bounds memory, not the file."),
    ] = DEFAULT_BATCH_SIZE,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            metavar="SPEC",
            help="Score a Parquet file partition by partition on Dask workers: local:N starts N "
            "worker processes, tcp://HOST:PORT uses a running scheduler (its workers must see "
            "INPUT and OUTPUT at the same absolute paths). Needs the dask extra.",
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            help="Native threads (OpenMP/BLAS) while scoring; more only pays on an idle host "
            "\\[default: predict.threads, 1].",
        ),
    ] = None,
) -> None:
    """Score a CSV/Parquet file in chunks; the output appears only when complete."""
    from mlops import threads as native

    opts = options(ctx)
    project = opts.project()
    n_jobs = threads if threads is not None else project.settings.predict.threads
    native.prefer_passive_waiting(n_jobs)  # before OpenMP initialises (scikit-learn's import)
    from mlops.predict import predict_file

    result = predict_file(  # progress: mlops.cli.bars
        opts.store(),
        input_path,
        output_path,
        model_uri=model,
        batch_size=batch_size,
        allow_unsafe=project.allow_unsafe_model,
        n_jobs=n_jobs,
        cluster=cluster,
        on_warning=lambda message: typer.echo(f"warning: {message}", err=True),
    )
    typer.echo(_summary(result), err=True)
    typer.echo(str(result.output))


PREDICT_EXAMPLES = """\b\nExamples:
  mlops predict rows.csv scored.parquet
  mlops predict big.parquet scored.parquet --cluster local:2"""


def _summary(result: PredictResult) -> str:
    model = f"{result.model_name} v{result.model_version}" if result.model_name else "the model"
    rate = result.rows / result.seconds if result.seconds > 0 else float("inf")
    missing = (
        f", {result.rows_with_missing} with missing values" if result.rows_with_missing else ""
    )
    where = f" on {result.cluster} ({result.partitions} partitions)" if result.cluster else ""
    return (
        f"scored {result.rows} rows{missing} with {model} ({result.model_uri}){where} in "
        f"{result.seconds:.2f}s ({rate:,.0f} rows/s) -> {result.output}"
    )


def serve(
    ctx: typer.Context,
    model: ModelOption = None,
    host: Annotated[
        str | None,
        typer.Option("--host", help="Interface to bind \\[default: serve.host, 127.0.0.1]."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=0,
            max=65535,
            help="Port; 0: any free port \\[default: serve.port, 8080].",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Worker processes \\[default: serve.workers, 1]."),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            help="Native threads (OpenMP/BLAS) per scoring call; more only pays on an idle host "
            "\\[default: serve.threads, 1].",
        ),
    ] = None,
) -> None:
    """Serve the model over HTTP with MLflow's scoring protocol, metrics and hot reload."""
    from mlops import serve as server

    opts = options(ctx)
    project = opts.project()
    settings = project.settings.serve
    extra = {} if threads is None else {"threads": threads}
    serve_options = server.ServeOptions.from_project(
        project,
        model,
        log_level="WARNING" if opts.quiet else "DEBUG" if opts.verbose > 1 else "INFO",
        **extra,
    )
    sock = server.bind(host or settings.host, settings.port if port is None else port)
    count = workers or settings.workers
    typer.echo(
        f"serving {serve_options.model_uri} on {server.address(sock)} "
        f"({count} worker{'s' if count > 1 else ''}; SIGTERM or Ctrl+C stops)",
        err=True,
    )
    server.run(serve_options, sock, workers=count)


SERVE_EXAMPLES = """\b\nExamples:
  mlops serve                  # the champion on 127.0.0.1:8080
  mlops serve --model models:/NAME@challenger --port 8081
  mlops serve --host 0.0.0.0 --workers 2
  curl -H content-type:application/json -d @rows.json localhost:8080/invocations"""


def register(app: typer.Typer) -> None:
    app.command("predict", rich_help_panel=PANEL, epilog=PREDICT_EXAMPLES)(predict)
    app.command("serve", rich_help_panel=PANEL, epilog=SERVE_EXAMPLES)(serve)
