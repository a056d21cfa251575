"""Capture served traffic: sampled request rows and their predictions, in rotating Parquet files.

The request path only decides (per request, seeded by its id) and hands the already-validated
frame to a bounded queue with `put`-or-drop: it never waits on the disk. A writer thread
collects rows and writes one Parquet file per `rotate_rows` rows (or per `flush_seconds`, and on
shutdown), through a hidden temp file renamed into place: a crash leaves complete files only.
Files are named `capture-<UTC time>-<pid>-<seq>.parquet`, so each worker process writes its own.
When the directory grows past `max_bytes`, the oldest capture files are deleted.

Personal columns (the schema contract's and `data.pii`'s) are stored as keyed hashes with the
project's PII key, or as a redaction marker when no key is available.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import re
import threading
import time
import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlops.config import CaptureSettings
    from mlops.project import Project
    from mlops.serve.metrics import Metrics

log = logging.getLogger(__name__)

PREFIX = "capture-"
SUFFIX = ".parquet"
PREDICTION = "prediction"
MODEL_VERSION = "_model_version"
MODEL_NAME = "_model_name"
TIMESTAMP = "_timestamp"
REQUEST_ID = "_request_id"
#: The row's position in its request (labels of batch requests join on id and row).
ROW = "_row"
META_COLUMNS = (MODEL_VERSION, MODEL_NAME, TIMESTAMP, REQUEST_ID, ROW)
#: Where a middleware puts the request id in the ASGI scope.
SCOPE_KEY = "mlops.request_id"
#: A client-sent `X-Request-ID` is used when it looks like an id (else one is generated).
_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class CaptureOptions(BaseModel):
    """What a server process needs to capture (JSON-serialisable for worker processes)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    sample_rate: float = 1.0
    path: Path = Path("data/capture")
    max_bytes: int = 1024**3
    rotate_rows: int = 10_000
    flush_seconds: float = 60.0
    queue_rows: int = 100_000
    #: Personal columns: stored hashed (or redacted), never raw.
    personal: tuple[str, ...] = ()
    #: The project root (where the PII key file must not be).
    root: Path = Path()

    @classmethod
    def from_project(cls, project: Project) -> CaptureOptions:
        settings: CaptureSettings = project.settings.serve.capture
        return cls(
            **settings.model_dump(),
            root=project.root,
            personal=tuple(personal_columns(project)),
        ).model_copy(update={"path": project.resolve(settings.path)})


def personal_columns(project: Project) -> list[str]:
    """Columns that hold personal data: the contract's findings and `data.pii` decisions."""
    from mlops.data import load_schema

    names = [n for n, d in project.params.data.pii.items() if d != "drop"]
    schema_file = project.settings.paths.schema_file
    if schema_file.exists():
        try:
            names.extend(load_schema(schema_file).personal())
        except Exception as exc:  # a broken contract must not stop the server
            log.warning("capture: cannot read %s (%s); data.pii only", schema_file, exc)
    return list(dict.fromkeys(names))


def request_id(scope: MutableMapping[str, Any]) -> str:
    """The request's id: the middleware's, else a sane `X-Request-ID` header, else a new one."""
    found = scope.get(SCOPE_KEY)
    if found:
        return str(found)
    for key, value in scope.get("headers", ()):
        if key == b"x-request-id":
            text = str(value.decode("latin-1"))
            if _ID.fullmatch(text):
                return text
    return uuid.uuid4().hex


def sampled(request: str, rate: float) -> bool:
    """Whether a request is captured: a seeded draw per request id (reproducible)."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    return random.Random(request).random() < rate


@dataclass(frozen=True)
class _Item:
    columns: list[str]
    arrays: list[Any]
    predictions: np.ndarray
    name: str
    version: str
    timestamp: float
    request: str

    @property
    def rows(self) -> int:
        return len(self.predictions)


_STOP = object()
_FLUSH = object()


class Capture:
    """The bounded queue and the writer thread of one server process."""

    def __init__(self, options: CaptureOptions, metrics: Metrics) -> None:
        self.options = options
        self.metrics = metrics
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._queued = 0  # rows waiting (read and written under the lock)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._sequence = 0
        self._key: bytes | None = None
        self._failures = 0
        self._flushed = threading.Event()

    # ---------------------------------------------------------------- request path

    def offer(
        self,
        frame: pd.DataFrame,
        predictions: np.ndarray,
        name: str | None,
        version: str | None,
        request: str,
    ) -> None:
        """Queue a scored request's rows when sampled; drop (and count) them when full."""
        if not sampled(request, self.options.sample_rate):
            return
        rows = len(predictions)
        with self._lock:
            if self._queued + rows > self.options.queue_rows or self._thread is None:
                full = True
            else:
                self._queued += rows
                full = False
        if full:
            self.metrics.capture_dropped.inc(rows)
            return
        columns = [str(c) for c in frame.columns]
        arrays = _column_arrays(frame)
        self._queue.put(
            _Item(columns, arrays, predictions, name or "", version or "", time.time(), request)
        )

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        if self._thread is not None:
            return
        from mlops.data.pii import load_key
        from mlops.errors import ConfigError

        if self.options.personal:
            try:
                self._key = load_key(self.options.root)
            except ConfigError as exc:
                log.warning("capture: personal columns stored redacted (%s)", exc)
        self._thread = threading.Thread(target=self._run, name="mlops-capture", daemon=True)
        self._thread.start()

    def flush(self, timeout: float = 30.0) -> bool:
        """Close the current file now (tests, shutdown); True when done within `timeout`."""
        if self._thread is None:
            return True
        self._flushed.clear()
        self._queue.put(_FLUSH)
        return self._flushed.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, close the file, stop the writer."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(_STOP)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("capture: writer still busy after %.0fs; queued rows lost", timeout)

    # ---------------------------------------------------------------- writer thread

    def _run(self) -> None:
        self._sweep()
        pending: list[_Item] = []
        rows = 0
        opened = 0.0
        while True:
            wait = None
            if pending:
                wait = max(0.0, opened + self.options.flush_seconds - time.monotonic())
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = _FLUSH
            if isinstance(item, _Item):
                if not pending:
                    opened = time.monotonic()
                pending.append(item)
                rows += item.rows
                with self._lock:
                    self._queued -= item.rows
                    queued = self._queued
                self.metrics.capture_queue.set(queued)
                if rows < self.options.rotate_rows:
                    continue
            if pending:
                self._write(pending)
                pending, rows = [], 0
            if item is _FLUSH:
                self._flushed.set()
            elif item is _STOP:
                self._flushed.set()
                return

    def _write(self, items: list[_Item]) -> None:
        rows = sum(item.rows for item in items)
        try:
            frame = self._frame(items)
            target = self._next_path()
            self._save(frame, target)
        except Exception as exc:  # a full or failing disk: drop and count, never crash
            self._failures += 1
            if self._failures == 1 or self._failures % 100 == 0:
                log.warning(
                    "capture: cannot write %d rows to %s (%s; %d failures)",
                    rows,
                    self.options.path,
                    exc,
                    self._failures,
                )
            self.metrics.capture_dropped.inc(rows)
            return
        self.metrics.capture_rows.inc(rows)
        self._enforce_cap(keep=target)

    def _frame(self, items: list[_Item]) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        from mlops.data.pii import REDACTED, keyed_hash

        data: dict[str, Any] = {}
        layouts: dict[tuple[str, ...], list[_Item]] = {}
        for item in items:
            layouts.setdefault(tuple(item.columns), []).append(item)
        parts = []
        for columns, group in layouts.items():
            part = {
                name: np.concatenate([np.asarray(item.arrays[i]) for item in group])
                for i, name in enumerate(columns)
            }
            parts.append(pd.DataFrame(part))
        frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
        ordered = [item for group in layouts.values() for item in group]
        predictions = np.concatenate([np.asarray(item.predictions) for item in ordered])
        if predictions.dtype == object:
            predictions = predictions.astype(str)
        data[PREDICTION] = predictions
        data[MODEL_VERSION] = np.repeat([i.version for i in ordered], [i.rows for i in ordered])
        data[MODEL_NAME] = np.repeat([i.name for i in ordered], [i.rows for i in ordered])
        stamps = np.repeat([i.timestamp for i in ordered], [i.rows for i in ordered])
        data[TIMESTAMP] = pd.to_datetime(stamps, unit="s", utc=True)
        data[REQUEST_ID] = np.repeat([i.request for i in ordered], [i.rows for i in ordered])
        data[ROW] = np.concatenate([np.arange(i.rows, dtype=np.int32) for i in ordered])
        frame = frame.assign(**data)
        for name in self.options.personal:
            if name in frame.columns:
                if self._key is not None:
                    frame[name] = keyed_hash(frame[name], self._key)
                else:  # no key: a marker (missing values stay missing, as hashing keeps them)
                    frame[name] = frame[name].astype(object).where(frame[name].isna(), REDACTED)
        return frame

    def _next_path(self) -> Path:
        self._sequence += 1
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        name = f"{PREFIX}{stamp}-{os.getpid()}-{self._sequence:06d}{SUFFIX}"
        return self.options.path / name

    def _save(self, frame: pd.DataFrame, target: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from mlops.artifacts import atomic_path

        table = pa.Table.from_pandas(frame, preserve_index=False)
        with atomic_path(target) as tmp:
            pq.write_table(table, tmp)

    def _sweep(self) -> None:
        """Remove hidden temp files of writers that were killed mid-write (their pid is gone)."""
        from mlops.artifacts import pid_alive

        try:
            leftovers = list(self.options.path.glob(f".{PREFIX}*{SUFFIX}.*.tmp"))
        except OSError:
            return
        for leftover in leftovers:
            pid = leftover.name.split(SUFFIX + ".", 1)[-1].split(".", 1)[0]
            if pid.isdigit() and not pid_alive(int(pid)):
                leftover.unlink(missing_ok=True)

    def _enforce_cap(self, keep: Path) -> None:
        """Delete the oldest capture files while the directory is over `max_bytes`."""
        files = []
        for path in self.options.path.glob(f"{PREFIX}*{SUFFIX}"):
            try:
                stat = path.stat()
            except FileNotFoundError:  # another worker deleted it
                continue
            files.append((stat.st_mtime_ns, path.name, path, stat.st_size))
        total = sum(size for *_, size in files)
        for _, _, path, size in sorted(files):
            if total <= self.options.max_bytes or path == keep:
                break
            path.unlink(missing_ok=True)
            total -= size


def _column_arrays(frame: pd.DataFrame) -> list[Any]:
    """The frame's columns as arrays, cheaply (no copy of the values)."""
    iterate = getattr(frame, "_iter_column_arrays", None)
    if iterate is not None:
        return list(iterate())
    return [frame.iloc[:, i].to_numpy() for i in range(frame.shape[1])]
