"""A real lock around registry changes: one promotion or rollback at a time per store."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from mlops.errors import PromotionConflictError
from mlops.tracking import Store

LOCK_TIMEOUT_ENV = "MLOPS_PROMOTE_LOCK_TIMEOUT"


def lock_path(store: Store) -> Path:
    """Beside the SQLite store when embedded; in the project's `.mlops/` otherwise."""
    return store.lock_path(f"{store.model_name}.promote")


@contextlib.contextmanager
def promotion_lock(store: Store, timeout: float | None = None) -> Iterator[None]:
    """Hold the promotion lock; a waiter past `timeout` seconds gets a clear error (exit 1)."""
    from filelock import FileLock, Timeout

    path = lock_path(store)
    wait = timeout if timeout is not None else float(os.environ.get(LOCK_TIMEOUT_ENV, "120"))
    lock = FileLock(str(path), timeout=wait)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout as exc:
        raise PromotionConflictError(
            f"promotion in progress: {path} is locked by another process; re-run when it finishes"
        ) from exc
    except OSError as exc:
        raise PromotionConflictError(f"{path}: cannot create the promotion lock ({exc})") from exc
    try:
        yield
    finally:
        lock.release()
