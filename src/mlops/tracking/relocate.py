"""A moved project folder: the SQLite store still records artifact locations under the old path.

MLflow stores absolute `file://` locations (the experiment's artifact root, each run's artifact
URI, logged models, model versions, dataset sources). After `mv project elsewhere`, new runs
would write their artifacts to the old path (recreating it) and old runs' artifacts would not
be found. `moved()` notices it on connect (one line naming both paths); `relocate()` (run by
`mlops doctor --relocate`) rewrites the old project root to the new one, in one transaction.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

from mlops.errors import TrackingError

#: Columns of MLflow's schema that hold absolute artifact or data locations.
LOCATION_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "storage_location"),
    ("model_versions", "source"),
    ("datasets", "dataset_source"),
)


def file_path(uri: str | None) -> Path | None:
    """The local path of a `file://` URI (None for anything else)."""
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return Path(unquote(parsed.path))


def moved(recorded: str | None, expected: Path) -> Path | None:
    """The old artifact root when the store's records point at a folder that is gone while the
    project's own artifact root is elsewhere (the project was moved); else None."""
    old = file_path(recorded)
    if old is None or old == expected or old.exists():
        return None
    return old


def _roots(old_artifacts: Path, new_artifacts: Path, artifact_root: Path) -> tuple[str, str]:
    """The old and new project roots when both artifact roots end in `artifact_root` (so data
    paths move too); else the artifact roots themselves."""
    parts = len(artifact_root.parts)
    if parts and old_artifacts.parts[-parts:] == artifact_root.parts:
        old_root = Path(*old_artifacts.parts[:-parts])
        new_root = Path(*new_artifacts.parts[:-parts])
        return str(old_root), str(new_root)
    return str(old_artifacts), str(new_artifacts)


def relocate(
    database: Path, experiment: str, new_artifacts: Path, artifact_root: Path
) -> dict[str, object]:
    """Point the store's records at the project's current folder; a no-op when they already do."""
    if not database.is_file():
        raise TrackingError(f"{database}: no SQLite tracking store here to relocate")
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as conn:
        row = conn.execute(
            "SELECT artifact_location FROM experiments WHERE name = ?", (experiment,)
        ).fetchone()
        if row is None:
            return {"relocated": False, "reason": f"no experiment {experiment!r} yet"}
        old_artifacts = file_path(row[0])
        if old_artifacts is None or old_artifacts == new_artifacts:
            return {"relocated": False, "reason": "the store already points at this project"}
        old, new = _roots(old_artifacts, new_artifacts, artifact_root)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        updated: dict[str, int] = {}
        with conn:  # one transaction: all or nothing
            for table, column in LOCATION_COLUMNS:
                if table not in tables:
                    continue
                columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
                if column not in columns:
                    continue
                cursor = conn.execute(
                    f"UPDATE {table} SET {column} = REPLACE({column}, ?, ?) "
                    f"WHERE instr({column}, ?) > 0",
                    (old, new, old),
                )
                if cursor.rowcount:
                    updated[f"{table}.{column}"] = cursor.rowcount
    return {"relocated": True, "from": old, "to": new, "rows": updated}
