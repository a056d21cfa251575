"""MLflow tracking adapter: runs, params, metrics, the model, lineage tags.

With `registry.py`, the only module that imports mlflow (an MLflow upgrade is a two-file change).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops import __version__
from mlops.config import Config, TrackingSettings
from mlops.errors import TrackingError, redact_secrets

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

TAG_PREFIX = "mlops."
MODEL_ARTIFACT = "model"


# --------------------------------------------------------------------------- lineage


@dataclass(frozen=True)
class GitState:
    commit: str
    dirty: bool


def git_state(cwd: Path | None = None) -> GitState:
    """The current commit and whether the work tree has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return GitState(commit="unknown", dirty=True)
    return GitState(commit=commit, dirty=bool(status.strip()))


def lineage_tags(config: Config, data_hashes: Mapping[str, str]) -> dict[str, str]:
    """Tags that tie a run to code, data and params."""
    git = git_state()
    tags = {
        f"{TAG_PREFIX}git_commit": git.commit,
        f"{TAG_PREFIX}git_dirty": str(git.dirty).lower(),
        f"{TAG_PREFIX}params_sha256": config.params_hash(),
        f"{TAG_PREFIX}version": __version__,
        f"{TAG_PREFIX}overrides": ";".join(config.overrides),
        "mlflow.source.git.commit": git.commit,
    }
    for name, digest in data_hashes.items():
        tags[f"{TAG_PREFIX}data.{name}_md5"] = digest
    return tags


# --------------------------------------------------------------------------- connection


def _quiet_mlflow() -> None:
    """MLflow configures its own INFO handler at import; keep its chatter off our stderr."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    # Nothing leaves the machine: no usage telemetry from MLflow.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow  # noqa: F401  (configures the "mlflow" logger)

    for name in ("mlflow", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)


SQLITE_PREFIX = "sqlite:///"
#: Seconds a SQLite writer waits for another writer's lock before failing.
SQLITE_BUSY_TIMEOUT = 60


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI (None for other stores)."""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    return Path(uri.removeprefix(SQLITE_PREFIX).split("?", 1)[0])


def resolve_uri(uri: str) -> str:
    """Absolute SQLite paths (a run resolves the same from any cwd) with a busy timeout."""
    database = sqlite_path(uri)
    if database is None:
        return uri
    query = uri.partition("?")[2]
    if "timeout=" not in query:
        query = (
            f"{query}&timeout={SQLITE_BUSY_TIMEOUT}" if query else f"timeout={SQLITE_BUSY_TIMEOUT}"
        )
    return f"{SQLITE_PREFIX}{database.resolve()}?{query}"


def _prepare_sqlite(database: Path) -> None:
    """Create the store once, under a file lock (no migration race), and switch it to WAL."""
    import sqlite3

    from filelock import FileLock

    database = database.resolve()
    database.parent.mkdir(parents=True, exist_ok=True)
    marker = database.with_name(f".{database.name}.ready")
    if marker.exists() and database.exists():
        return
    with FileLock(str(database.with_name(f".{database.name}.init.lock")), timeout=300):
        if marker.exists() and database.exists():
            return
        from mlflow.tracking._tracking_service.utils import _get_store

        _get_store()  # type: ignore[no-untyped-call]  # runs MLflow's migrations on a fresh database
        with contextlib.closing(sqlite3.connect(database, timeout=SQLITE_BUSY_TIMEOUT)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
        marker.touch()


def connect(settings: TrackingSettings) -> str:
    """Point MLflow at the configured store and make sure the experiment exists; return its id."""
    _quiet_mlflow()
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = resolve_uri(settings.uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        database = sqlite_path(uri)
        if database is not None:
            _prepare_sqlite(database)
        reap_orphaned_runs()
        experiment = mlflow.get_experiment_by_name(settings.experiment)
        if experiment is None:
            location = settings.artifact_root.resolve().as_uri()
            try:
                return str(
                    mlflow.create_experiment(settings.experiment, artifact_location=location)
                )
            except MlflowException:  # created concurrently by another process
                experiment = mlflow.get_experiment_by_name(settings.experiment)
                if experiment is None:
                    raise
        return str(experiment.experiment_id)
    except MlflowException as exc:
        raise TrackingError(f"tracking store {redact(uri)}: {first_line(exc)}") from exc
    except Exception as exc:  # sqlalchemy / OS errors from the store
        raise TrackingError(f"tracking store {redact(uri)}: {first_line(exc)}") from exc


def redact(uri: str) -> str:
    """Hide credentials in a URI (`user:pass@host` -> `***@host`)."""
    return redact_secrets(uri)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- runs


def _process_start(pid: int) -> str | None:
    """The kernel's start time of a process (tells a live pid from a reused one)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    current = _process_start(pid)
    return started is None or current is None or current == started


def process_tags() -> dict[str, str]:
    return {
        f"{TAG_PREFIX}pid": str(os.getpid()),
        f"{TAG_PREFIX}pid_start": _process_start(os.getpid()) or "",
        f"{TAG_PREFIX}host": socket.gethostname(),
    }


def reap_orphaned_runs() -> list[str]:
    """Mark KILLED every RUNNING run whose process on this host is gone (e.g. after kill -9)."""
    import mlflow

    client = mlflow.MlflowClient()
    host = socket.gethostname()
    reaped: list[str] = []
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return reaped
    running = client.search_runs(
        experiments, filter_string="attributes.status = 'RUNNING'", max_results=1000
    )
    for found in running:
        tags = found.data.tags
        pid = tags.get(f"{TAG_PREFIX}pid", "")
        if tags.get(f"{TAG_PREFIX}host") != host or not pid.isdigit():
            continue
        if not _alive(int(pid), tags.get(f"{TAG_PREFIX}pid_start") or None):
            client.set_terminated(found.info.run_id, status="KILLED")
            client.set_tag(found.info.run_id, f"{TAG_PREFIX}reaped", "process gone")
            reaped.append(found.info.run_id)
            log.warning(
                "run %s was left RUNNING by a dead process; marked KILLED", found.info.run_id
            )
    return reaped


@contextlib.contextmanager
def run(
    experiment_id: str, *, run_id: str | None = None, run_name: str | None = None
) -> Iterator[str]:
    """An MLflow run that ends FINISHED, FAILED on an exception, KILLED on an interrupt."""
    import mlflow

    active = mlflow.start_run(
        run_id=run_id, experiment_id=experiment_id, run_name=run_name, tags=process_tags()
    )
    status = "FINISHED"
    try:
        yield active.info.run_id
    except (KeyboardInterrupt, SystemExit):
        status = "KILLED"
        raise
    except BaseException:
        status = "FAILED"
        raise
    finally:
        mlflow.end_run(status=status)


def log_params(params: Mapping[str, Any]) -> None:
    import mlflow

    mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})


def log_metrics(metrics: Mapping[str, float], prefix: str = "") -> None:
    import mlflow

    mlflow.log_metrics({f"{prefix}{k}": float(v) for k, v in metrics.items()})


def set_tags(tags: Mapping[str, str]) -> None:
    import mlflow

    mlflow.set_tags(dict(tags))


def log_artifacts(path: Path, artifact_path: str | None = None) -> None:
    import mlflow

    if path.is_dir():
        mlflow.log_artifacts(str(path), artifact_path=artifact_path)
    elif path.exists():
        mlflow.log_artifact(str(path), artifact_path=artifact_path)


def pip_requirements() -> list[str]:
    """Pinned requirements given explicitly: MLflow's inference costs seconds per model."""
    from importlib.metadata import version

    return [
        f"{name}=={version(name)}"
        for name in ("mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")
    ]


@dataclass(frozen=True)
class LoggedModel:
    uri: str
    #: The skops bytes MLflow wrote: the same file goes to `models/model.skops` (one dump).
    model_bytes: bytes


class _SklearnFlavor:
    """`mlflow.sklearn` for `Model.log`, minus the serving-example re-validation.

    That check reloads the model just written and predicts again (~0.4 s); our own scoring
    already exercised the fitted pipeline. The flavor also hands back the skops bytes it wrote.
    """

    __name__ = "mlflow.sklearn"

    def __init__(self) -> None:
        self.model_bytes = b""

    def save_model(
        self, path: str, mlflow_model: Any, validate_serving_input: bool = True, **kwargs: Any
    ) -> None:
        import mlflow.sklearn

        mlflow.sklearn.save_model(path=path, mlflow_model=mlflow_model, **kwargs)
        self.model_bytes = (Path(path) / "model.skops").read_bytes()


def log_sklearn_model(
    model: Any, example: pd.DataFrame, example_predictions: Any, trusted_types: list[str]
) -> LoggedModel:
    """Log the fitted pipeline in skops format with signature and input example."""
    from mlflow.models import Model, infer_signature

    # The signature takes the example's types as given: MLflow refuses int64 input for a column
    # declared double, so the caller decides which integer columns may hold missing values.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        signature = infer_signature(example, example_predictions)
    from mlflow.exceptions import MlflowException

    flavor = _SklearnFlavor()
    try:
        info = _log_with(Model, flavor, model, example, trusted_types, signature)
    except (MlflowException, OSError) as exc:
        raise TrackingError(
            f"cannot log the model to the artifact store: {first_line(exc)}"
        ) from exc
    return LoggedModel(uri=str(info.model_uri), model_bytes=flavor.model_bytes)


def _log_with(
    model_class: Any,
    flavor: _SklearnFlavor,
    model: Any,
    example: pd.DataFrame,
    trusted_types: list[str],
    signature: Any,
) -> Any:
    return model_class.log(
        artifact_path=None,
        name=MODEL_ARTIFACT,
        flavor=flavor,
        sk_model=model,
        serialization_format="skops",
        skops_trusted_types=trusted_types or None,
        signature=signature,
        input_example=example,
        pip_requirements=pip_requirements(),
        validate_serving_input=False,
    )


def get_run(run_id: str) -> Any:
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.MlflowClient().get_run(run_id)
    except MlflowException as exc:
        raise TrackingError(f"run {run_id}: {first_line(exc)}") from exc


def logged_model_uri(run_id: str) -> str:
    """The URI of the model a run logged (`models:/<id>`), or `runs:/<run_id>/model`."""
    found = get_run(run_id)
    outputs = getattr(found, "outputs", None)
    for output in getattr(outputs, "model_outputs", None) or []:
        return f"models:/{output.model_id}"
    return f"runs:/{run_id}/{MODEL_ARTIFACT}"


def run_summary(run_id: str) -> dict[str, Any]:
    """A run's status, metrics and mlops lineage tags, as plain data."""
    found = get_run(run_id)
    tags = {k: v for k, v in found.data.tags.items() if k.startswith(TAG_PREFIX)}
    return {
        "run_id": run_id,
        "status": found.info.status,
        "start_time": found.info.start_time,
        "metrics": dict(found.data.metrics),
        "lineage": tags,
    }


def log_text_artifacts(run_id: str, files: Mapping[str, Path], artifact_path: str) -> None:
    """Attach files to an existing run (without changing its status)."""
    import mlflow

    client = mlflow.MlflowClient()
    for path in files.values():
        client.log_artifact(run_id, str(path), artifact_path=artifact_path)


def set_run_tags(run_id: str, tags: Mapping[str, str]) -> None:
    import mlflow

    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_tag(run_id, key, value)


def store_health(settings: TrackingSettings) -> dict[str, Any]:
    """Connect, reap runs orphaned by dead processes, and describe the store."""
    import mlflow

    experiment_id = connect(settings)
    reaped = reap_orphaned_runs()
    client = mlflow.MlflowClient()
    counts: dict[str, int] = {}
    for found in client.search_runs([experiment_id], max_results=5000):
        counts[found.info.status] = counts.get(found.info.status, 0) + 1
    health: dict[str, Any] = {
        "tracking_uri": redact(settings.uri),
        "experiment": settings.experiment,
        "experiment_id": experiment_id,
        "runs_by_status": counts,
        "reaped_runs": reaped,
    }
    database = sqlite_path(settings.uri)
    if database is not None:
        import sqlite3

        with contextlib.closing(sqlite3.connect(database.resolve(), timeout=5)) as conn:
            health["sqlite_journal_mode"] = conn.execute("PRAGMA journal_mode").fetchone()[0]
            health["sqlite_integrity"] = conn.execute("PRAGMA quick_check").fetchone()[0]
    return health
