"""`configs/<env>.yaml`: the environment (where things live on this machine), as frozen models."""

from __future__ import annotations

from pathlib import Path

from pydantic import ConfigDict, Field, model_validator

from mlops import defaults
from mlops.config._params import _Frozen


class PathSettings(_Frozen):
    raw: Path = Path("data/raw/dataset.parquet")
    schema_file: Path = Field(default=Path("data/schema.json"), alias="schema")
    train: Path = Path("data/processed/train.parquet")
    test: Path = Path("data/processed/test.parquet")
    model_dir: Path = Path("models")
    reports: Path = Path("reports")
    #: Registry versions fetched from a remote artifact store, kept for scoring processes.
    model_cache: Path = Path(".mlops/model-cache")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _inside_project(self) -> PathSettings:
        """Every path the toolkit writes stays inside the project: no `..`, no absolute paths."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value.is_absolute() or ".." in value.parts:
                raise ValueError(f"{name}: {value} must be a relative path inside the project")
        return self

    @property
    def model_file(self) -> Path:
        return self.model_dir / "model.skops"

    @property
    def run_file(self) -> Path:
        return self.model_dir / "run.json"


class TrackingSettings(_Frozen):
    uri: str = defaults.TRACKING_URI
    experiment: str = defaults.EXPERIMENT
    artifact_root: Path = Path("mlartifacts")
    #: Seconds one request to a tracking server may take (MLflow's MLFLOW_HTTP_REQUEST_TIMEOUT).
    timeout: float = Field(default=30.0, gt=0.0, le=3600.0)
    #: Retries of a failed request to a live server (MLflow's MLFLOW_HTTP_REQUEST_MAX_RETRIES).
    retries: int = Field(default=2, ge=0, le=10)


class RegistrySettings(_Frozen):
    model_name: str = defaults.MODEL_NAME
    champion_alias: str = "champion"
    previous_alias: str = "previous"
    challenger_alias: str = "challenger"

    @model_validator(mode="after")
    def _safe_names(self) -> RegistrySettings:
        """Names become directory and lock-file names: no path separators, no `..`, no control
        characters; aliases as MLflow accepts them (letters, digits, `_`, `-`)."""
        import re

        name = self.model_name
        if (
            not name.strip()
            or name != name.strip()
            or any(c in name for c in "/\\")
            or ".." in name
            or any(ord(c) < 32 or ord(c) == 127 for c in name)
            or len(name) > 256
        ):
            raise ValueError(
                f"model_name: {name!r} is not a usable model name (no '/', '\\', '..', control "
                "characters or surrounding spaces; at most 256 characters)"
            )
        for key in ("champion_alias", "previous_alias", "challenger_alias"):
            alias = getattr(self, key)
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", alias) or alias.lower() == "latest":
                raise ValueError(
                    f"{key}: {alias!r} is not a valid alias (letters, digits, '_' and '-'; "
                    "not 'latest')"
                )
        return self


class ServeSettings(_Frozen):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    reload_interval: float = Field(default=5.0, gt=0.0)
    #: Native threads (OpenMP/BLAS) a scoring call may use; None: the libraries' default (all
    #: cores, busy-waiting). One keeps a loaded host's event loop and other requests responsive.
    threads: int | None = Field(default=1, ge=1)
    #: Rows one request may hold (413 beyond), counted before the body is decoded where the
    #: format allows (Parquet footer, CSV lines).
    max_rows: int = Field(default=100_000, ge=1)
    #: Columns one request may hold (413 beyond), counted before parsing; never below the
    #: number of columns the model's signature needs.
    max_columns: int = Field(default=2048, ge=1)
    #: Seconds a request may take from its first byte to its answer (504 beyond, like MLflow's
    #: 60 s scoring timeout); a batch already being scored finishes in the background.
    request_timeout: float = Field(default=60.0, gt=0.0)
    #: Seconds a client has to send a request's headers (the connection is closed beyond).
    header_timeout: float = Field(default=10.0, gt=0.0)
    #: Seconds a client has to send a request's whole body once its headers are in (408 beyond).
    body_timeout: float = Field(default=30.0, gt=0.0)
    #: Seconds an idle keep-alive connection stays open between requests.
    keep_alive_timeout: int = Field(default=5, ge=1)
    #: Open connections per worker process; one more gets 503 and is closed quickly.
    max_connections: int = Field(default=512, ge=1)
    #: Sampled request rows and predictions written to Parquet files (`mlops monitor` reads them).
    capture: CaptureSettings = Field(default_factory=lambda: CaptureSettings())
    #: `mlops monitor`'s Prometheus textfile, appended to `/metrics` when it exists.
    monitor_textfile: Path = Path("reports/monitor/monitor.prom")


class PredictSettings(_Frozen):
    """How `mlops predict` scores a file."""

    #: Native threads (OpenMP/BLAS) while scoring; None: the libraries' default (all cores).
    #: One is the safe default on a shared host: busy-waiting OpenMP threads collapse when
    #: another process holds a core.
    threads: int | None = Field(default=1, ge=1)


class DvcSettings(_Frozen):
    remote: str | None = None  # None: the repository's default DVC remote


class TuneSettings(_Frozen):
    """Where `mlops tune` runs its trials and keeps its study."""

    #: A Dask cluster for the trials: `local:N` or `tcp://HOST:PORT` (None: in-process).
    cluster: str | None = None
    #: An Optuna storage URL (None: `optuna.db` beside a SQLite tracking store, else
    #: `.mlops/optuna.db`).
    storage: str | None = None


class Settings(_Frozen):
    """Everything in `configs/<env>.yaml`: where things live on this machine."""

    paths: PathSettings = Field(default_factory=PathSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    dvc: DvcSettings = Field(default_factory=DvcSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    tune: TuneSettings = Field(default_factory=TuneSettings)
    predict: PredictSettings = Field(default_factory=PredictSettings)
    monitor: MonitorSettings = Field(default_factory=lambda: MonitorSettings())


class CaptureSettings(_Frozen):
    """`serve.capture`: which served rows are kept, where, and how much disk they may take."""

    enabled: bool = False
    #: Share of requests whose rows are captured (decided per request, seeded by its id).
    sample_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    #: The capture directory (relative to the project root unless absolute).
    path: Path = Path("data/capture")
    #: Total size cap of the directory: the oldest capture files are deleted to stay under it.
    max_bytes: int = Field(default=1024**3, ge=1)
    #: Rows per Parquet file: a file is closed (renamed into place) when it has this many.
    rotate_rows: int = Field(default=10_000, ge=1)
    #: A file with fewer rows is closed anyway after this many seconds (and on shutdown).
    flush_seconds: float = Field(default=60.0, gt=0.0)
    #: Rows waiting for the writer at most; beyond, rows are dropped (and counted), never waited on.
    queue_rows: int = Field(default=100_000, ge=1)


class MonitorSettings(_Frozen):
    """`mlops monitor`: where its reports go (the textfile is `serve.monitor_textfile`)."""

    reports: Path = Path("reports/monitor")
