"""The worker side of `predict --cluster`: partitions of a Parquet file, the model shipped
once per worker, and scoring one partition into an Arrow IPC part."""

from __future__ import annotations

import hashlib
import math
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops import cluster as clusters
from mlops import registry, threads
from mlops.errors import DataError, first_line
from mlops.predict.batch import Scorer, score_batches

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq


#: Partitions per worker when `partition_rows` is not given: enough to even out uneven ones.
PARTITIONS_PER_WORKER = 4
#: Fewer rows than this per partition cost more in task and part-file overhead than they save.
MIN_PARTITION_ROWS = 8192
#: Seconds to wait for a scheduler without workers to get one.
WORKER_WAIT = clusters.CONNECT_TIMEOUT


@dataclass(frozen=True)
class Job:
    """What to score and how, as `predict_file` was asked."""

    source: Path
    target: Path
    out_suffix: str
    batch_size: int
    n_jobs: int | None
    allow_unsafe: bool
    partition_rows: int | None = None


@dataclass(frozen=True)
class Partition:
    """Rows `first` .. `first + rows - 1` of the file (0-based), as (row group, start, end)
    ranges within row groups."""

    index: int
    first: int
    rows: int
    pieces: tuple[tuple[int, int, int], ...]

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}.arrow"


@dataclass(frozen=True)
class ShippedModel:
    """The model's files, sent to every worker once; `token` identifies them."""

    token: str
    files: Mapping[str, bytes]
    allow_unsafe: bool

    @classmethod
    def of(cls, files: Mapping[str, bytes], allow_unsafe: bool) -> ShippedModel:
        digest = hashlib.sha256(str(allow_unsafe).encode())
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + files[name])
        return cls(digest.hexdigest(), dict(files), allow_unsafe)


def plan_partitions(group_rows: Sequence[int], target: int) -> list[Partition]:
    """Consecutive row groups gathered into partitions of at least `target` rows (the last may
    be smaller); a row group of more than twice `target` rows is cut into slices of about
    `target` (each slice's worker decodes the group and skips the rows before its slice)."""
    if target < 1:
        raise DataError(f"partition size must be at least 1 row (got {target})")
    partitions: list[Partition] = []
    pieces: list[tuple[int, int, int]] = []
    first = position = rows = 0

    def close() -> None:
        nonlocal pieces, rows
        if pieces:
            partitions.append(Partition(len(partitions), first, rows, tuple(pieces)))
        pieces, rows = [], 0

    for group, count in enumerate(group_rows):
        if count <= 0:
            continue
        if count > 2 * target:
            close()
            step = math.ceil(count / math.ceil(count / target))
            for start in range(0, count, step):
                end = min(count, start + step)
                partitions.append(
                    Partition(
                        len(partitions), position + start, end - start, ((group, start, end),)
                    )
                )
            position += count
            first = position
            continue
        if not pieces:
            first = position
        pieces.append((group, 0, count))
        rows += count
        position += count
        if rows >= target:
            close()
    close()
    return partitions


def default_partition_rows(total: int, workers: int) -> int:
    return max(math.ceil(total / (max(workers, 1) * PARTITIONS_PER_WORKER)), MIN_PARTITION_ROWS)


# --------------------------------------------------------------------------- on a worker


def _ipc_options() -> pa.ipc.IpcWriteOptions:
    """LZ4: parts are written and read once, right away; fast beats small."""
    import pyarrow as pa

    return pa.ipc.IpcWriteOptions(compression="lz4")


_SCORERS: dict[str, Scorer] = {}
_SCORERS_LOCK = threading.Lock()


def worker_scorer(model: ShippedModel) -> Scorer:
    """The shipped model, loaded once per worker process through the skops allowlist."""
    with _SCORERS_LOCK:
        scorer = _SCORERS.get(model.token)
        if scorer is None:
            loaded, inputs = registry.load_model_files(model.files, allow_unsafe=model.allow_unsafe)
            scorer = Scorer.from_model(loaded, inputs)
            _SCORERS.clear()  # one model per worker: a long-lived cluster does not pile them up
            _SCORERS[model.token] = scorer
        return scorer


class _Rows:
    """The partition's record batches, remembering which file rows the current one holds."""

    def __init__(self, file: pq.ParquetFile, part: Partition, batch_size: int) -> None:
        self.file, self.part, self.batch_size = file, part, batch_size
        self.span = (part.first, part.first + min(part.rows, batch_size) - 1)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        position = self.part.first
        for group, start, end in self.part.pieces:
            offset = 0  # rows of the group seen so far
            for batch in self.file.iter_batches(batch_size=self.batch_size, row_groups=[group]):
                low, high = max(start - offset, 0), min(end - offset, batch.num_rows)
                offset += batch.num_rows
                if high > low:
                    self.span = (position, position + high - low - 1)
                    position += high - low
                    yield batch if high - low == batch.num_rows else batch.slice(low, high - low)
                if offset >= end:
                    break


def score_partition(
    source: str,
    part: Partition,
    directory: str,
    model: ShippedModel,
    label: tuple[str | None, str | None],
    batch_size: int,
    n_jobs: int | None,
    argmax: bool,
) -> tuple[int, int, int]:
    """On a worker: score one partition into `directory/part-NNNNN.arrow`.

    Returns (rows, batches, rows with missing values). A DataError names the file and the rows.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    scorer = worker_scorer(model)
    target = Path(directory) / part.name
    tmp = target.with_name(f".{part.name}.{uuid.uuid4().hex[:8]}.tmp")  # a retried task rewrites
    try:
        reader = _Rows(pq.ParquetFile(source), part, batch_size)
    except OSError as exc:
        raise DataError(
            f"{source}: cannot read it on worker {socket.gethostname()} ({first_line(exc)}); "
            "the input must be at the same absolute path on every worker"
        ) from None
    rows = batches = missing = 0
    writer: Any = None
    schema: pa.Schema | None = None
    try:
        with threads.limited(n_jobs):
            for out, coerced in score_batches(scorer, reader, label, argmax=argmax):
                if writer is None:
                    schema = out.schema
                    writer = pa.ipc.new_file(str(tmp), schema, options=_ipc_options())
                elif out.schema != schema:
                    out = out.cast(schema)
                writer.write_table(out)
                rows += out.num_rows
                batches += 1
                missing += coerced.rows_with_missing
        if writer is not None:
            writer.close()
            writer = None
            tmp.replace(target)
    except DataError as exc:
        raise DataError(f"{source}: {_rows(reader, part)}: {exc}") from None
    except Exception as exc:
        if type(exc).__module__.startswith("pyarrow") or isinstance(exc, OSError):
            raise DataError(f"{source}: {_rows(reader, part)}: {first_line(exc)}") from None
        raise
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return rows, batches, missing


def _rows(reader: _Rows, part: Partition) -> str:
    low, high = reader.span
    return f"rows {low}-{high}"


# --------------------------------------------------------------------------- the driver
