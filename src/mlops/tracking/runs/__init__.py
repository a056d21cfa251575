"""Reading runs for `mlops runs`: recent runs, whole runs, runs by id prefix, tag or name.

The embedded store (a SQLite file) is read directly with `sqlite3` through a read-only
connection: a listing of 1,000 runs takes milliseconds and never imports MLflow; a filter of
simple comparisons joined by AND is translated for it (`_filters`). Any other store (a tracking
server, PostgreSQL), any other filter (LIKE, IN; MLflow also reports the syntax errors), or a
SQLite file the shared read-only opener refuses (`mlops.tracking.readonly`: an untested schema
revision) or whose tables lack the columns read here goes through `MlflowClient.search_runs`.
"""

from __future__ import annotations

import contextlib
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.errors import TrackingError, first_line
from mlops.tracking.runs._client import ClientRuns
from mlops.tracking.runs._filters import sql_filter
from mlops.tracking.runs._record import RunRecord, Unreadable
from mlops.tracking.runs._sqlite import SqliteRuns

if TYPE_CHECKING:
    from mlops.tracking.store import Store

__all__ = [
    "ClientRuns",
    "RunRecord",
    "SqliteRuns",
    "artifact_bytes",
    "artifact_files",
    "artifact_size",
    "find_run_ids",
    "get_runs",
    "local_artifact_dir",
    "recent_runs",
    "sql_filter",
]


def recent_runs(
    store: Store,
    *,
    limit: int,
    filter_string: str | None = None,
    param_keys: Sequence[str] | None = None,
) -> list[RunRecord]:
    """The experiment's newest runs first (active ones; `param_keys`: only those params).

    A filter in MLflow's search grammar is translated for the SQLite reader when it is a
    conjunction of simple comparisons (`metrics.m > 0.9 AND params.p = 'x'`); anything else
    (LIKE, IN, a syntax error) goes to MLflow, which parses and validates it.
    """
    where = sql_filter(filter_string) if filter_string else ("", [])
    if where is not None:
        with contextlib.suppress(Unreadable), SqliteRuns.open(store) as reader:
            return reader.recent(limit, param_keys, where)
    return ClientRuns(store).recent(limit, filter_string)


def get_runs(store: Store, run_ids: Sequence[str]) -> list[RunRecord]:
    """Whole runs (every param, metric, tag and dataset input), in the order asked."""
    with contextlib.suppress(Unreadable), SqliteRuns.open(store) as reader:
        found = {r.run_id: r for r in reader.records(list(run_ids), None, datasets=True)}
        return [found[i] for i in run_ids if i in found]
    return ClientRuns(store).get(run_ids)


def find_run_ids(
    store: Store,
    *,
    prefix: str | None = None,
    tags: dict[str, str] | None = None,
    name: str | None = None,
) -> list[str]:
    """Ids of the experiment's runs whose id starts with `prefix`, whose tags have these
    values, and whose name is `name` (each when given): newest first."""
    with contextlib.suppress(Unreadable), SqliteRuns.open(store) as reader:
        return reader.find(prefix=prefix, tags=tags, name=name)
    return ClientRuns(store).find(prefix=prefix, tags=tags, name=name)


def local_artifact_dir(record: RunRecord) -> Path | None:
    """The run's artifact folder when it is on this machine's disk (a `file:` URI)."""
    parts = urllib.parse.urlsplit(record.artifact_uri)
    if parts.scheme == "file":
        return Path(urllib.request.url2pathname(parts.path))
    if not parts.scheme and record.artifact_uri:
        return Path(record.artifact_uri)
    return None


def artifact_files(store: Store, record: RunRecord) -> list[str]:
    """Every artifact file of a run (relative paths, sorted); the logged model is not listed."""
    local = local_artifact_dir(record)
    if local is not None:
        if not local.is_dir():
            return []
        return sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    from mlflow.exceptions import MlflowException

    files: list[str] = []
    pending = [""]
    try:
        while pending:
            for item in store.client.list_artifacts(record.run_id, pending.pop() or None):
                (pending if item.is_dir else files).append(item.path)
    except MlflowException as exc:
        raise TrackingError(f"run {record.run_id}: artifacts: {first_line(exc)}") from exc
    return sorted(files)


def artifact_size(store: Store, record: RunRecord, path: str) -> int | None:
    """One artifact file's size in bytes, without reading it (None when the store does not say)."""
    local = local_artifact_dir(record)
    if local is not None:
        return (local / path).stat().st_size
    from mlflow.exceptions import MlflowException

    parent = path.rpartition("/")[0] or None
    try:
        for item in store.client.list_artifacts(record.run_id, parent):
            if item.path == path and not item.is_dir:
                return None if item.file_size is None else int(item.file_size)
    except MlflowException as exc:
        raise TrackingError(f"run {record.run_id}: {path}: {first_line(exc)}") from exc
    return None


def artifact_bytes(store: Store, record: RunRecord, path: str) -> bytes:
    """One artifact file's bytes."""
    local = local_artifact_dir(record)
    if local is not None:
        return (local / path).read_bytes()
    import tempfile

    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory(prefix="mlops-artifact-") as folder:
        try:
            got = store.client.download_artifacts(record.run_id, path, folder)
        except MlflowException as exc:
            raise TrackingError(f"run {record.run_id}: {path}: {first_line(exc)}") from exc
        return Path(got).read_bytes()
