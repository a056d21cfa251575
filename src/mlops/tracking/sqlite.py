"""The embedded SQLite store: created once under a file lock, in WAL mode; its health."""

from __future__ import annotations

import contextlib
from pathlib import Path

from mlops.tracking.uri import SQLITE_BUSY_TIMEOUT


def prepare_sqlite(database: Path) -> None:
    """Create the store once, under a file lock (no migration race), and switch it to WAL."""
    import sqlite3

    from filelock import FileLock

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


def sqlite_health(database: Path) -> dict[str, str]:
    """The database's journal mode and a quick integrity check."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(database, timeout=5)) as conn:
        return {
            "sqlite_journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
            "sqlite_integrity": conn.execute("PRAGMA quick_check").fetchone()[0],
        }
