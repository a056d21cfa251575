"""The tracking store of one command: opened once, shared by every stage and registry call.

A `Store` owns the resolved tracking/registry URI, the SQLite preparation (WAL, busy timeout,
created under a lock), the experiment, orphan reaping (once per process), the lock paths, and
the MLflow client. Constructing one imports nothing heavy; MLflow is connected on first use, so
scoring processes that read the registry through `registry.lookup` never import it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops import faults, interrupts, logs
from mlops.config import RegistrySettings, TrackingSettings
from mlops.errors import ConfigError, TrackingError, first_line
from mlops.tracking import tags
from mlops.tracking.sqlite import prepare_sqlite, sqlite_health
from mlops.tracking.uri import (
    POSTGRES_EXTRA,
    TrackingUri,
    parse_tracking_uri,
    postgres_driver,
)

if TYPE_CHECKING:
    from mlops.project import Project

log = logging.getLogger(__name__)

#: How many times a process connected MLflow to a store (one per command is the contract).
CONNECTIONS = 0
#: Stores whose orphaned runs this process already reaped.
_REAPED: set[str] = set()


def _quiet_mlflow() -> None:
    """MLflow configures its own INFO handler at import; keep its chatter off our stderr."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    # Nothing leaves the machine: no usage telemetry from MLflow.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # Ending a run on a tracking server prints "View run ... at" to stdout: results only there.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    import mlflow  # noqa: F401  (configures the "mlflow" logger)

    for name in ("mlflow", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)


class Store:
    """The MLflow tracking store and model registry of a project (see the module docstring)."""

    def __init__(
        self,
        tracking: TrackingSettings,
        *,
        root: Path,
        registry: RegistrySettings | None = None,
        model_cache: Path | None = None,
    ) -> None:
        self.settings = tracking
        self.root = root
        self.names = registry or RegistrySettings()
        self.location: TrackingUri = parse_tracking_uri(tracking.uri, root)
        self.model_cache = model_cache or root / ".mlops" / "model-cache"
        self._experiment_id: str | None = None
        self._client: Any = None
        #: Runs this store marked KILLED when it connected (their process had died).
        self.reaped: list[str] = []

    @classmethod
    def for_project(cls, project: Project) -> Store:
        settings = project.settings
        return cls(
            settings.tracking,
            root=project.root,
            registry=settings.registry,
            model_cache=settings.paths.model_cache,
        )

    # ----------------------------------------------------------------------- identity

    @property
    def uri(self) -> str:
        """The resolved URI MLflow is given (absolute SQLite path, busy timeout)."""
        return self.location.uri

    @property
    def shown(self) -> str:
        """The URI as a user may see it (credentials hidden)."""
        return self.location.shown

    @property
    def model_name(self) -> str:
        return self.names.model_name

    def lock_path(self, purpose: str) -> Path:
        """A lock for `purpose` (e.g. `<model>.promote`): beside a local store, else in .mlops/.

        Derived from the parsed store path, so URIs that differ only by query share one lock.
        """
        return self.location.lock_path(purpose, self.root / ".mlops")

    def exists(self) -> bool:
        """False when the store is a local file or folder not created yet (reading it would)."""
        if self.location.path is not None:
            return self.location.path.exists()
        return True

    # ----------------------------------------------------------------------- connecting

    @property
    def experiment_id(self) -> str:
        if self._experiment_id is None:
            self._open()
        assert self._experiment_id is not None
        return self._experiment_id

    @property
    def client(self) -> Any:
        """The MlflowClient of this store (connecting on first use)."""
        if self._client is None:
            self._open()
        return self._client

    def activate(self) -> None:
        """Point MLflow's fluent API (runs, register_model, downloads) at this store."""
        import mlflow

        self.client  # noqa: B018  (connects once)
        if mlflow.get_tracking_uri() != self.uri:
            mlflow.set_tracking_uri(self.uri)
        if mlflow.get_registry_uri() != self.uri:
            mlflow.set_registry_uri(self.uri)

    def _http_settings(self) -> None:
        """Map `tracking.timeout`/`retries` onto MLflow's own HTTP settings (it reads its env)."""
        timeout, retries = self.settings.timeout, self.settings.retries
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(max(1, round(timeout)))
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(retries)
        os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "1"

    def _reachable(self) -> None:
        """A server that refuses or does not resolve fails now, not after MLflow's retries."""
        location = self.location
        if location.host is None or location.is_local:
            return
        port = location.port or (443 if location.scheme == "https" else 80)
        if location.scheme.startswith("postgres"):
            port = location.port or 5432
        elif location.scheme == "mysql":
            port = location.port or 3306
        try:
            with socket.create_connection(
                (location.host, port), timeout=min(self.settings.timeout, 5.0)
            ):
                pass
        except OSError as exc:
            reason = exc.strerror or first_line(exc)
            raise TrackingError(
                f"tracking store {self.shown}: cannot reach {location.host}:{port} ({reason})"
            ) from exc

    def _driver(self) -> None:
        """A database URI needs its Python driver: say which extra installs it, in one line."""
        location = self.location
        if not location.is_postgres:
            return
        import importlib.util

        named = location.driver.partition("_")[0]  # psycopg_async -> psycopg
        missing = (
            postgres_driver() is None
            if not named
            else importlib.util.find_spec(named) is None and named in ("psycopg", "psycopg2")
        )
        if missing:
            raise ConfigError(
                f"tracking.uri: {self.shown}: no PostgreSQL driver "
                f"({named or 'psycopg2'}) is installed; {POSTGRES_EXTRA}"
            )

    def _open(self) -> None:
        global CONNECTIONS
        self._driver()
        _quiet_mlflow()
        import mlflow
        from mlflow.exceptions import MlflowException

        CONNECTIONS += 1
        if self.location.is_server:
            self._http_settings()
        self._reachable()
        uri = self.uri
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        try:
            if self.location.is_sqlite and self.location.path is not None:
                prepare_sqlite(self.location.path)
            client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
            if self.location.identity not in _REAPED:
                from mlops.tracking.processes import reap_orphaned_runs

                self.reaped = reap_orphaned_runs(client)
                _REAPED.add(self.location.identity)
            self._experiment_id = self._experiment(client)
            self._client = client
        except MlflowException as exc:
            raise TrackingError(f"tracking store {self.shown}: {first_line(exc)}") from exc
        except TrackingError:
            raise
        except Exception as exc:  # sqlalchemy / OS / HTTP errors from the store
            raise TrackingError(f"tracking store {self.shown}: {first_line(exc)}") from exc

    def _experiment(self, client: Any) -> str:
        from mlflow.exceptions import MlflowException

        name = self.settings.experiment
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            if not self.location.is_server:
                self._check_not_moved(experiment.artifact_location)
            return str(experiment.experiment_id)
        # A local store keeps artifacts in the project; a tracking server decides itself (it
        # may proxy them), so a team's runs never point at one machine's disk.
        location = (
            self.root.joinpath(self.settings.artifact_root).absolute().as_uri()
            if not self.location.is_server
            else None
        )
        try:
            return str(client.create_experiment(name, artifact_location=location))
        except MlflowException:  # created concurrently by another process
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return str(experiment.experiment_id)

    def _check_not_moved(self, recorded: str | None) -> None:
        from mlops.tracking.relocate import moved

        expected = self.root.joinpath(self.settings.artifact_root).absolute()
        old = moved(recorded, expected)
        if old is not None:
            raise TrackingError(
                f"tracking store {self.shown}: its runs keep artifacts under {old}, which no "
                f"longer exists (was the project moved?); `mlops doctor --relocate` points them "
                f"at {expected}"
            )

    # ----------------------------------------------------------------------- runs

    @contextlib.contextmanager
    def run(self, *, run_id: str | None = None, run_name: str | None = None) -> Iterator[str]:
        """An active MLflow run: FINISHED, FAILED on an exception, KILLED on an interrupt.

        An MLflow error inside the run (the server or database went away) becomes one
        `TrackingError` line. When the store is gone the run cannot be marked FAILED; it stays
        RUNNING until the next command on this host connects and reaps it as KILLED.
        """
        import mlflow
        from mlflow.exceptions import MlflowException

        from mlops.tracking.processes import process_tags

        experiment_id = self.experiment_id
        self.activate()
        active = None
        status = "FINISHED"
        token = last_resort = None
        try:
            # A signal while MLflow creates the run would leave it RUNNING with no id to end.
            with interrupts.deferred():
                started = mlflow.start_run(
                    run_id=run_id,
                    experiment_id=experiment_id,
                    run_name=run_name,
                    tags=process_tags(),
                )
                faults.checkpoint("tracking.run_created")  # created, not yet ours to end
                active = started
                token = logs.bind(run_id=active.info.run_id)  # on every line in the run
                # A hard exit (the unwind did not finish in time) still ends the run KILLED.
                last_resort = interrupts.on_hard_exit(
                    functools.partial(
                        self.client.set_terminated, active.info.run_id, status="KILLED"
                    )
                )
            log.debug("run %s started in experiment %s", active.info.run_id, experiment_id)
            yield active.info.run_id
        except (KeyboardInterrupt, SystemExit):
            status = "KILLED"
            raise
        except MlflowException as exc:
            status = "FAILED"
            where = "" if active is None else f" run {active.info.run_id}:"
            raise TrackingError(f"tracking store {self.shown}:{where} {first_line(exc)}") from exc
        except BaseException:
            status = "FAILED"
            raise
        finally:
            try:
                if active is not None:
                    self._end_run(active.info.run_id, status)
            finally:
                if last_resort is not None:
                    interrupts.discard(last_resort)
                if token is not None:
                    logs.unbind(token)

    def _end_run(self, run_id: str, status: str) -> None:
        """End the active run; a store that is gone must not hide the error that ended it."""
        import mlflow

        try:
            mlflow.end_run(status=status)
        except Exception as exc:  # the run is off MLflow's stack either way
            if status == "FINISHED":
                raise TrackingError(
                    f"tracking store {self.shown}: run {run_id}: cannot mark it finished "
                    f"({first_line(exc)})"
                ) from exc
            log.warning("run %s: cannot mark it %s: %s", run_id, status, first_line(exc))

    def get_run(self, run_id: str) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_run(run_id)
        except MlflowException as exc:
            raise TrackingError(f"run {run_id}: {first_line(exc)}") from exc

    def logged_model_uri(self, run_id: str) -> str:
        """The URI of the model a run logged (`models:/<id>`), or `runs:/<run_id>/model`."""
        from mlops.tracking.model import MODEL_ARTIFACT

        found = self.get_run(run_id)
        outputs = getattr(found, "outputs", None)
        for output in getattr(outputs, "model_outputs", None) or []:
            return f"models:/{output.model_id}"
        return f"runs:/{run_id}/{MODEL_ARTIFACT}"

    def run_summary(self, run_id: str) -> dict[str, Any]:
        """A run's status, metrics and mlops lineage tags, as plain data."""
        found = self.get_run(run_id)
        lineage = {k: v for k, v in found.data.tags.items() if k.startswith(tags.PREFIX)}
        return {
            "run_id": run_id,
            "run_name": found.info.run_name,
            "status": found.info.status,
            "start_time": found.info.start_time,
            "metrics": dict(found.data.metrics),
            "lineage": lineage,
        }

    def lineage(self, run_id: str | None) -> dict[str, str]:
        """The lineage tags of a run (those copied onto versions and decision records)."""
        if not run_id:
            return {}
        found = self.run_summary(run_id)["lineage"]
        return {key: str(found[key]) for key in tags.LINEAGE if key in found}

    def attach_files(self, run_id: str, files: Mapping[str, Path], artifact_path: str) -> None:
        """Attach files to an existing run (without changing its status)."""
        for path in files.values():
            self.client.log_artifact(run_id, str(path), artifact_path=artifact_path)

    def log_run_metrics(self, run_id: str, values: Mapping[str, float]) -> None:
        """Metrics on an existing run (without changing its status)."""
        import time

        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        metrics = [Metric(key, float(value), stamp, 0) for key, value in values.items()]
        if metrics:
            self.client.log_batch(run_id, metrics=metrics)

    def set_run_tags(self, run_id: str, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            self.client.set_tag(run_id, key, value)

    def health(self) -> dict[str, Any]:
        """Connect (reaping runs orphaned by dead processes) and describe the store."""
        from mlops.tracking.processes import reap_orphaned_runs

        experiment_id = self.experiment_id
        reaped = [*self.reaped, *reap_orphaned_runs(self.client)]
        counts: dict[str, int] = {}
        for found in self.client.search_runs([experiment_id], max_results=5000):
            counts[found.info.status] = counts.get(found.info.status, 0) + 1
        health: dict[str, Any] = {
            "tracking_uri": self.shown,
            "experiment": self.settings.experiment,
            "experiment_id": experiment_id,
            "runs_by_status": counts,
            "reaped_runs": reaped,
        }
        database = self.location.path if self.location.is_sqlite else None
        if database is not None:
            health.update(sqlite_health(database))
        return health
