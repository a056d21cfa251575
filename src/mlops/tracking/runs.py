"""Reading runs for `mlops runs`: recent runs, whole runs, runs by id prefix, tag or name.

The embedded store (a SQLite file) is read directly with `sqlite3` through a read-only
connection: a listing of 1,000 runs takes milliseconds and never imports MLflow. Any other store
(a tracking server, PostgreSQL), a filter expression (MLflow's search grammar), or a SQLite file
whose tables do not have the columns read here goes through `MlflowClient.search_runs`.
"""

from __future__ import annotations

import contextlib
import math
import re
import sqlite3
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import TrackingError, first_line

if TYPE_CHECKING:
    from mlops.tracking.store import Store

#: The columns read from MLflow's tables; a file without them is read through MLflow.
_COLUMNS = {
    "experiments": {"experiment_id", "name", "lifecycle_stage"},
    "runs": {
        "run_uuid", "name", "status", "start_time", "end_time", "artifact_uri",
        "experiment_id", "lifecycle_stage",
    },
    "tags": {"key", "value", "run_uuid"},
    "params": {"key", "value", "run_uuid"},
    "latest_metrics": {"key", "value", "is_nan", "run_uuid"},
}  # fmt: skip
#: Run ids per `IN (...)` query (SQLite's variable limit is far above it).
_CHUNK = 500
#: Runs searched for an id prefix on a store read through MLflow.
_PREFIX_SCAN = 5000


@dataclass
class RunRecord:
    """One run as plain data (params, metrics and tags as MLflow holds them: flat)."""

    run_id: str
    name: str
    status: str
    start_ms: int | None
    end_ms: int | None
    artifact_uri: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    #: Dataset inputs: name, digest, context (`training`/`testing`), source.
    datasets: list[dict[str, str]] = field(default_factory=list)


class _Unreadable(Exception):
    """Not readable directly: go through MLflow."""


# --------------------------------------------------------------------------- entry points


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
        with contextlib.suppress(_Unreadable), _SqliteRuns.open(store) as reader:
            return reader.recent(limit, param_keys, where)
    return _ClientRuns(store).recent(limit, filter_string)


def get_runs(store: Store, run_ids: Sequence[str]) -> list[RunRecord]:
    """Whole runs (every param, metric, tag and dataset input), in the order asked."""
    with contextlib.suppress(_Unreadable), _SqliteRuns.open(store) as reader:
        found = {r.run_id: r for r in reader.records(list(run_ids), None, datasets=True)}
        return [found[i] for i in run_ids if i in found]
    return _ClientRuns(store).get(run_ids)


def find_run_ids(
    store: Store,
    *,
    prefix: str | None = None,
    tags: dict[str, str] | None = None,
    name: str | None = None,
) -> list[str]:
    """Ids of the experiment's runs whose id starts with `prefix`, whose tags have these
    values, and whose name is `name` (each when given): newest first."""
    with contextlib.suppress(_Unreadable), _SqliteRuns.open(store) as reader:
        return reader.find(prefix=prefix, tags=tags, name=name)
    return _ClientRuns(store).find(prefix=prefix, tags=tags, name=name)


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


# --------------------------------------------------------------------------- SQLite


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _marks(items: Sequence[str]) -> str:
    return ",".join("?" * len(items))


class _SqliteRuns:
    """MLflow's run tables in the embedded SQLite store, through a read-only connection."""

    def __init__(self, conn: sqlite3.Connection | None, experiment_id: str | None) -> None:
        self.conn = conn
        self.experiment_id = experiment_id

    @classmethod
    @contextlib.contextmanager
    def open(cls, store: Store) -> Iterator[_SqliteRuns]:
        location = store.location
        if not location.is_sqlite or location.path is None:
            raise _Unreadable("not an SQLite file")
        if not location.path.is_file():
            # No store yet: no runs (reading through MLflow would create one).
            yield cls(None, None)
            return
        try:
            conn = sqlite3.connect(f"{location.path.as_uri()}?mode=ro", uri=True, timeout=30)
        except sqlite3.Error as exc:
            raise _Unreadable(str(exc)) from exc
        try:
            reader = cls(conn, None)
            reader._check()
            reader.experiment_id = reader._experiment(store.settings.experiment)
            yield reader
        except sqlite3.Error as exc:
            raise _Unreadable(str(exc)) from exc
        finally:
            conn.close()

    def _check(self) -> None:
        assert self.conn is not None
        for table, wanted in _COLUMNS.items():
            have = {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}
            if not wanted <= have:
                raise _Unreadable(f"{table}: columns {sorted(wanted - have)} missing")

    def _experiment(self, name: str) -> str | None:
        assert self.conn is not None
        columns = {row[1] for row in self.conn.execute("PRAGMA table_info(experiments)")}
        query = (
            "SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = 'active'"
        )
        args: tuple[str, ...] = (name,)
        if "workspace" in columns:
            import os

            query += " AND workspace = ?"
            args += (os.environ.get("MLFLOW_WORKSPACE") or "default",)
        row = self.conn.execute(query, args).fetchone()
        return str(row[0]) if row else None

    def recent(
        self,
        limit: int,
        param_keys: Sequence[str] | None,
        where: tuple[str, list[Any]] = ("", []),
    ) -> list[RunRecord]:
        if self.experiment_id is None or self.conn is None:
            return []
        clauses, args = where
        ids = [
            row[0]
            for row in self.conn.execute(
                "SELECT r.run_uuid FROM runs r WHERE r.experiment_id = ? "
                f"AND r.lifecycle_stage = 'active'{clauses} "
                "ORDER BY r.start_time DESC, r.run_uuid LIMIT ?",
                (self.experiment_id, *args, limit),
            )
        ]
        return self.records(ids, param_keys, datasets=False)

    def find(
        self,
        *,
        prefix: str | None = None,
        tags: dict[str, str] | None = None,
        name: str | None = None,
    ) -> list[str]:
        if self.experiment_id is None or self.conn is None:
            return []
        query = "SELECT r.run_uuid FROM runs r WHERE r.experiment_id = ? AND r.lifecycle_stage = 'active'"
        args: list[Any] = [self.experiment_id]
        if prefix is not None:
            query += " AND r.run_uuid LIKE ? ESCAPE '\\'"
            args.append(prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        if name is not None:
            query += " AND r.name = ?"
            args.append(name)
        for key, value in (tags or {}).items():
            query += (
                " AND EXISTS (SELECT 1 FROM tags t WHERE t.run_uuid = r.run_uuid "
                "AND t.key = ? AND t.value = ?)"
            )
            args += [key, value]
        query += " ORDER BY r.start_time DESC, r.run_uuid"
        return [row[0] for row in self.conn.execute(query, args)]

    def records(
        self, ids: Sequence[str], param_keys: Sequence[str] | None, *, datasets: bool
    ) -> list[RunRecord]:
        records: dict[str, RunRecord] = {}
        conn = self.conn
        if conn is None:
            return []
        for part in _chunks(ids):
            marks = _marks(part)
            for row in conn.execute(
                "SELECT run_uuid, name, status, start_time, end_time, artifact_uri FROM runs "
                f"WHERE run_uuid IN ({marks})",
                tuple(part),
            ):
                records[row[0]] = RunRecord(
                    run_id=row[0],
                    name=row[1] or "",
                    status=row[2] or "",
                    start_ms=row[3],
                    end_ms=row[4],
                    artifact_uri=row[5] or "",
                )
            for run, key, value in conn.execute(
                f"SELECT run_uuid, key, value FROM tags WHERE run_uuid IN ({marks})", tuple(part)
            ):
                records[run].tags[key] = value
            params = f"SELECT run_uuid, key, value FROM params WHERE run_uuid IN ({marks})"
            args: tuple[str, ...] = tuple(part)
            if param_keys is not None:
                params += f" AND key IN ({_marks(param_keys)})"
                args += tuple(param_keys)
            for run, key, value in conn.execute(params, args):
                records[run].params[key] = value
            for run, key, value, is_nan in conn.execute(
                "SELECT run_uuid, key, value, is_nan FROM latest_metrics "
                f"WHERE run_uuid IN ({marks})",
                tuple(part),
            ):
                records[run].metrics[key] = math.nan if is_nan else float(value)
            if datasets:
                self._datasets(part, records)
        return [records[i] for i in ids if i in records]

    def _datasets(self, part: Sequence[str], records: dict[str, RunRecord]) -> None:
        assert self.conn is not None
        try:
            rows = self.conn.execute(
                "SELECT i.destination_id, d.name, d.digest, d.dataset_source, t.value "
                "FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id "
                "LEFT JOIN input_tags t ON t.input_uuid = i.input_uuid "
                "AND t.name = 'mlflow.data.context' "
                "WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' "
                f"AND i.destination_id IN ({_marks(part)}) ORDER BY d.name",
                tuple(part),
            ).fetchall()
        except sqlite3.Error:  # an older schema without dataset inputs
            return
        for run, name, digest, source, context in rows:
            records[run].datasets.append(
                {
                    "name": name or "",
                    "digest": digest or "",
                    "context": context or "",
                    "source": _source(source),
                }
            )


def _source(text: str | None) -> str:
    """A dataset source's URI (MLflow stores `{"uri": ...}` as JSON)."""
    if not text:
        return ""
    import json

    try:
        value = json.loads(text)
    except ValueError:
        return text
    return str(value.get("uri", text)) if isinstance(value, dict) else text


# --------------------------------------------------------------------------- filters

_ENTITY = {
    "metrics": "metric", "metric": "metric",
    "params": "param", "param": "param", "parameters": "param", "parameter": "param",
    "tags": "tag", "tag": "tag",
    "attributes": "attribute", "attribute": "attribute", "attr": "attribute", "run": "attribute",
}  # fmt: skip
#: Attributes the SQLite reader filters on: column, numeric?
_ATTRIBUTES = {
    "status": ("status", False),
    "run_name": ("name", False),
    "run_id": ("run_uuid", False),
    "start_time": ("start_time", True),
    "end_time": ("end_time", True),
}
_CLAUSE = re.compile(
    r"""\s*(?P<entity>[A-Za-z]+)\.(?:`(?P<bq>[^`]+)`|"(?P<dq>[^"]+)"|(?P<key>[\w.\-/]+))"""
    r"""\s*(?P<op>!=|<>|>=|<=|=|>|<)\s*"""
    r"""(?:'(?P<sq_value>[^'\\]*)'|"(?P<dq_value>[^"\\]*)"|(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))\s*"""
)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
_TABLES = {"metric": "latest_metrics", "param": "params", "tag": "tags"}


def sql_filter(text: str) -> tuple[str, list[Any]] | None:
    """SQL for a filter of simple comparisons joined by AND (on `runs r`), or None when the
    filter needs MLflow's own parser. Quoted values containing ` and ` are left to MLflow."""
    clauses: list[str] = []
    args: list[Any] = []
    for part in _AND.split(text.strip()):
        found = _CLAUSE.fullmatch(part)
        if found is None:
            return None
        entity = _ENTITY.get(found["entity"].lower())
        key = found["bq"] or found["dq"] or found["key"]
        op = "!=" if found["op"] == "<>" else found["op"]
        number, string = found["number"], found["sq_value"]
        if string is None:
            string = found["dq_value"]
        if entity is None or not key:
            return None
        if entity == "metric":
            if number is None:
                return None
            clauses.append(
                " AND EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_uuid = r.run_uuid "
                f"AND m.key = ? AND m.is_nan = 0 AND m.value {op} ?)"
            )
            args += [key, float(number)]
        elif entity in ("param", "tag"):
            if string is None or op not in ("=", "!="):
                return None
            table = _TABLES[entity]
            clauses.append(
                f" AND EXISTS (SELECT 1 FROM {table} x WHERE x.run_uuid = r.run_uuid "
                f"AND x.key = ? AND x.value {op} ?)"
            )
            args += [key, string]
        else:
            column, numeric = _ATTRIBUTES.get(key, (None, False))
            if column is None:
                return None
            if numeric:
                if number is None:
                    return None
                args.append(float(number))
            else:
                if string is None or op not in ("=", "!="):
                    return None
                args.append(string)
            clauses.append(f" AND r.{column} {op} ?")
    return "".join(clauses), args


# --------------------------------------------------------------------------- MLflow


def _record(run: Any) -> RunRecord:
    info, data = run.info, run.data
    inputs = getattr(run, "inputs", None)
    datasets = []
    for item in getattr(inputs, "dataset_inputs", None) or []:
        context = next((t.value for t in item.tags if t.key == "mlflow.data.context"), "")
        datasets.append(
            {
                "name": item.dataset.name or "",
                "digest": item.dataset.digest or "",
                "context": context or "",
                "source": _source(item.dataset.source),
            }
        )
    return RunRecord(
        run_id=info.run_id,
        name=info.run_name or "",
        status=info.status or "",
        start_ms=info.start_time,
        end_ms=info.end_time,
        artifact_uri=info.artifact_uri or "",
        params=dict(data.params),
        metrics={k: float(v) for k, v in data.metrics.items()},
        tags=dict(data.tags),
        datasets=sorted(datasets, key=lambda d: d["name"]),
    )


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class _ClientRuns:
    """Any store, through MlflowClient.search_runs / get_run."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _search(self, filter_string: str, limit: int) -> list[Any]:
        from mlflow.exceptions import MlflowException

        store = self.store
        try:
            return list(
                store.client.search_runs(
                    [store.experiment_id],
                    filter_string=filter_string,
                    max_results=limit,
                    order_by=["attributes.start_time DESC"],
                )
            )
        except MlflowException as exc:
            raise TrackingError(
                f"runs filter {filter_string!r}: {first_line(exc)}"
                if filter_string
                else f"tracking store {store.shown}: {first_line(exc)}"
            ) from exc

    def recent(self, limit: int, filter_string: str | None) -> list[RunRecord]:
        return [_record(run) for run in self._search(filter_string or "", limit)]

    def get(self, run_ids: Sequence[str]) -> list[RunRecord]:
        return [_record(self.store.get_run(run_id)) for run_id in run_ids]

    def find(
        self,
        *,
        prefix: str | None = None,
        tags: dict[str, str] | None = None,
        name: str | None = None,
    ) -> list[str]:
        clauses = [f"tags.`{key}` = {_quote(value)}" for key, value in (tags or {}).items()]
        if name is not None:
            clauses.append(f"attributes.run_name = {_quote(name)}")
        limit = _PREFIX_SCAN if prefix is not None else 1000
        found = [run.info.run_id for run in self._search(" AND ".join(clauses), limit)]
        if prefix is not None:
            found = [run_id for run_id in found if run_id.startswith(prefix)]
        return found
