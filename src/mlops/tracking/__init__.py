"""MLflow tracking adapter: runs, params, metrics, the model, lineage tags.

With `registry.py`, the only module that imports mlflow (an MLflow upgrade is a two-file change).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mlops.config import TrackingSettings
from mlops.errors import TrackingError, first_line, redact_secrets
from mlops.tracking.lineage import TAG_PREFIX, GitState, git_state, lineage_tags
from mlops.tracking.model import MODEL_ARTIFACT, LoggedModel, log_sklearn_model, pip_requirements
from mlops.tracking.processes import process_tags, reap_orphaned_runs

__all__ = [
    "MODEL_ARTIFACT",
    "TAG_PREFIX",
    "GitState",
    "LoggedModel",
    "connect",
    "first_line",
    "get_run",
    "git_state",
    "lineage_tags",
    "log_artifacts",
    "log_metrics",
    "log_params",
    "log_sklearn_model",
    "log_text_artifacts",
    "logged_model_uri",
    "pip_requirements",
    "process_tags",
    "reap_orphaned_runs",
    "redact",
    "resolve_uri",
    "run",
    "run_summary",
    "set_run_tags",
    "set_tags",
    "sqlite_path",
    "store_health",
]

log = logging.getLogger(__name__)


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
            # A local store keeps artifacts in the project; a tracking server decides itself
            # (it may proxy them), so a team's runs never point at one machine's disk.
            location = settings.artifact_root.resolve().as_uri() if _is_local(uri) else None
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


def _is_local(uri: str) -> bool:
    """A store on this machine's disk (SQLite or a file store), not a tracking server."""
    return not uri.startswith(("http://", "https://", "databricks"))


def redact(uri: str) -> str:
    """Hide credentials in a URI (`user:pass@host` -> `***@host`)."""
    return redact_secrets(uri)


# --------------------------------------------------------------------------- runs


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
