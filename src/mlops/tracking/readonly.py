"""MLflow's embedded SQLite store opened read-only, without importing MLflow.

The one way the MLflow-free readers (`registry.lookup` for aliases and versions, `tracking.runs`
for `mlops runs`) open the file: a read-only connection, and only at a schema revision these
queries were tested on (`TESTED_REVISIONS`); rows of a workspace-aware schema are filtered to the
current workspace (`workspace_filter`). Anything else raises `Unavailable`: callers then go
through the MLflow client.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

#: MLflow writes this workspace when workspaces are off (the default everywhere but a server).
DEFAULT_WORKSPACE = "default"
#: Alembic revisions of MLflow's schema whose tables the direct readers were tested on:
#: MLflow 3.4.0 (71994744cf8e) to 3.18.0 (f4a9b2c7d1e6). The tables read changed once in that
#: span (workspace columns, 1b5f0d9ad7c1), which `workspace_filter` handles.
TESTED_REVISIONS = frozenset(
    {
        "71994744cf8e", "3da73c924c2f", "bf29a5ff90ea", "1bd49d398cd23", "b7c8d9e0f1a2",
        "5d2d30f0abce", "c9d4e5f6a7b8", "2c33131f4dae", "d3e4f5a6b7c8", "d0e1f2a3b4c5",
        "c8d9e0f1a2b3", "1b5f0d9ad7c1", "e1f2a3b4c5d6", "76601a5f987d", "c3d6457b6d8a",
        "a5b4c3d2e1f0", "ae8bbe7743c9", "7d34483879f0", "da6fb0208061", "89d3d66ed43f",
        "b7e4c1a90f23", "a8b9c0d1e2f3", "c1d2e3f4a5b6", "c3d9e7f1a2b4", "6f8d9c3b2a1e",
        "1971f2d9a75b", "17e22815139b", "b7e2c1a4d9f3", "75868b020152", "dc11669786a5",
        "e7d1f4b2a9c6", "8b6ad64cb8f5", "f4a9b2c7d1e6",
    }
)  # fmt: skip


class Unavailable(Exception):
    """This store cannot be read without MLflow: use the MLflow client."""


@contextlib.contextmanager
def connect(database: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to MLflow's SQLite file at a tested schema revision.

    `Unavailable` when the file is missing, is not MLflow's schema (no such table or column,
    also from the caller's queries inside the block) or is at an untested revision.
    """
    if not database.is_file():
        raise Unavailable(f"{database}: no store yet")
    try:
        conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise Unavailable(f"{database}: {exc}") from exc
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = str(row[0]) if row else ""
        if revision not in TESTED_REVISIONS:
            raise Unavailable(f"{database}: untested MLflow schema revision {revision!r}")
        yield conn
    except sqlite3.Error as exc:  # no such table/column: not (yet) MLflow's schema
        raise Unavailable(f"{database}: {exc}") from exc
    finally:
        conn.close()


def workspace() -> str:
    """The MLflow workspace rows are read from (`MLFLOW_WORKSPACE`, else the default)."""
    return os.environ.get("MLFLOW_WORKSPACE") or DEFAULT_WORKSPACE


def workspace_filter(conn: sqlite3.Connection, table: str) -> tuple[str, tuple[str, ...]]:
    """(` AND workspace = ?`, (the workspace,)) when `table` has a workspace column, else
    ("", ()): a clause to append to a query on `table`. `Unavailable` without the table."""
    columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    if not columns:
        raise Unavailable(f"no {table} table")
    if "workspace" not in columns:
        return "", ()
    return " AND workspace = ?", (workspace(),)
