"""MLflow's run tables in the embedded SQLite store, read directly (no MLflow import)."""

from __future__ import annotations

import contextlib
import math
import sqlite3
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from mlops.tracking.readonly import connect, workspace_filter
from mlops.tracking.runs._record import RunRecord, Unreadable, dataset_source

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


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _marks(items: Sequence[str]) -> str:
    return ",".join("?" * len(items))


class SqliteRuns:
    """MLflow's run tables in the embedded SQLite store, through the shared read-only opener
    (`mlops.tracking.readonly`: a tested schema revision, the current workspace's rows)."""

    def __init__(self, conn: sqlite3.Connection | None, experiment_id: str | None) -> None:
        self.conn = conn
        self.experiment_id = experiment_id

    @classmethod
    @contextlib.contextmanager
    def open(cls, store: Store) -> Iterator[SqliteRuns]:
        location = store.location
        if not location.is_sqlite or location.path is None:
            raise Unreadable("not an SQLite file")
        if not location.path.is_file():
            # No store yet: no runs (reading through MLflow would create one).
            yield cls(None, None)
            return
        with connect(location.path) as conn:
            reader = cls(conn, None)
            reader._check()
            reader.experiment_id = reader._experiment(store.settings.experiment)
            yield reader

    def _check(self) -> None:
        assert self.conn is not None
        for table, wanted in _COLUMNS.items():
            have = {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}
            if not wanted <= have:
                raise Unreadable(f"{table}: columns {sorted(wanted - have)} missing")

    def _experiment(self, name: str) -> str | None:
        assert self.conn is not None
        where, extra = workspace_filter(self.conn, "experiments")
        row = self.conn.execute(
            "SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = 'active'"
            f"{where}",
            (name, *extra),
        ).fetchone()
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
                    "source": dataset_source(source),
                }
            )
