"""Scoring a Parquet file on a Dask cluster, partition by partition, into one atomic output.

`predict_file` checks the input against the model signature first, exactly as in-process; then
the driver (this process) plans partitions (runs of consecutive row groups of about
`partition_rows` rows; a row group much larger than that is cut into slices), ships the model's
files to every worker once, and submits one task per partition. A worker loads the model through
the same skops allowlist (once per worker process), reads its rows from the file itself, scores
them with the same `score_batches` as in-process and writes `part-NNNNN.arrow` (Arrow IPC, LZ4:
cheap to write and read back, where a Parquet part would be encoded twice) into a temp
directory beside the output. The driver appends the parts in file order as they complete to a
temp file that replaces the output only when every row is in; the parts are removed on success,
on failure and on Ctrl-C/SIGTERM alike.

Workers read the input and write their parts at the driver's absolute paths: on a `tcp://`
cluster those paths must be on a filesystem every worker sees, and the workers need mlops.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import math
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops import artifacts, registry, threads
from mlops import cluster as clusters
from mlops.errors import DataError, first_line
from mlops.predict.batch import PredictResult, Scorer, _Writer, score_batches

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from distributed import Client, Future

    from mlops.tracking import Store

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


def predict_partitioned(
    store: Store,
    spec: clusters.ClusterSpec,
    job: Job,
    loaded: registry.LoadedModel,
    scorer: Scorer,
    ignored: tuple[str, ...],
    *,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> PredictResult:
    """Score `job.source` on the cluster into `job.target` (checks done by `predict_file`)."""
    import pyarrow.parquet as pq

    source, target = job.source.resolve(), job.target.resolve()
    try:
        metadata = pq.ParquetFile(source).metadata
    except Exception as exc:
        raise DataError(f"{source}: cannot read parquet file ({first_line(exc)})") from exc
    group_rows = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    total = sum(group_rows)
    if total == 0:
        raise DataError(f"{job.source}: no data rows")
    argmax = _argmax(scorer, source, job.batch_size)
    model = ShippedModel.of(registry.model_files(store, loaded), job.allow_unsafe)
    label = (loaded.name, loaded.version)
    with _parts_directory(target) as parts, _connect(spec) as client:
        workers = _wait_for_workers(client, spec)
        size = job.partition_rows or default_partition_rows(total, workers)
        plan = plan_partitions(group_rows, size)
        start = time.perf_counter()
        shipped = client.scatter(model, broadcast=True)  # type: ignore[no-untyped-call]
        run = uuid.uuid4().hex[:8]
        futures = {
            client.submit(
                score_partition,
                str(source),
                part,
                str(parts),
                shipped,
                label,
                job.batch_size,
                job.n_jobs,
                argmax,
                key=f"mlops-predict-{run}-{part.index:05d}",
            ): part
            for part in plan
        }
        with artifacts.atomic_path(target) as tmp:
            writer = _Writer(tmp, job.out_suffix)
            try:
                rows, batches, missing = _gather(
                    client, spec, futures, parts, writer, total, on_progress
                )
            except BaseException:
                writer.close(check=False)
                client.cancel(list(futures))  # type: ignore[no-untyped-call]
                raise
            writer.close()
    return PredictResult(
        output=job.target,
        rows=rows,
        batches=batches,
        seconds=time.perf_counter() - start,
        model_uri=loaded.uri,
        model_name=loaded.name,
        model_version=loaded.version,
        ignored_columns=ignored,
        rows_with_missing=missing,
        cluster=str(spec),
        partitions=len(plan),
    )


def _argmax(scorer: Scorer, source: Path, batch_size: int) -> bool:
    """What the in-process run decides on the first rows of the file (`argmax_matches_predict`
    on the first batch): whether labels may be the most probable class, so that every partition
    labels rows alike."""
    if not scorer.is_classifier:
        return False
    import pyarrow.parquet as pq

    from mlops.predict.batch import ARGMAX_SAMPLE_ROWS, warnings_silenced

    rows = min(batch_size, ARGMAX_SAMPLE_ROWS)
    for batch in pq.ParquetFile(source).iter_batches(batch_size=rows):
        if batch.num_rows:
            present = [name for name in scorer.schema.names if name in batch.schema.names]
            try:
                frame = scorer.schema.coerce(batch.select(present).to_pandas()).frame
            except DataError as exc:
                raise DataError(f"{source}: rows 0-{batch.num_rows - 1}: {exc}") from None
            with warnings_silenced():
                return scorer.argmax_matches_predict(frame)
    return False


@contextlib.contextmanager
def _connect(spec: clusters.ClusterSpec) -> Iterator[Client]:
    """`cluster.connect`, but the workers a local cluster starts do not get Dask's default
    `MALLOC_TRIM_THRESHOLD_`: setting it turns off glibc's adaptive mmap threshold, so every
    large array of every batch is mapped, faulted in and unmapped again (1.6x the CPU seconds
    per row, measured on a 100-tree forest). And no warning when port 8787 is taken."""
    try:
        import dask
    except ImportError:  # connect says how to install it
        config: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    else:
        config = dask.config.set({f"{_PRE_SPAWN}.MALLOC_TRIM_THRESHOLD_": None})
    with config, warnings.catch_warnings():
        # A local scheduler's HTTP server falls back to a free port when 8787 is taken, saying so.
        warnings.filterwarnings("ignore", message=r"Port \d+ is already in use")
        with clusters.connect(spec) as client:
            yield client


_PRE_SPAWN = "distributed.nanny.pre-spawn-environ"


def _wait_for_workers(client: Client, spec: clusters.ClusterSpec) -> int:
    count = clusters.workers(client)
    if count:
        return count
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT)
    except TimeoutError:
        raise clusters.ClusterError(
            f"cluster {spec}: the scheduler has no workers (waited {WORKER_WAIT:g} s)"
        ) from None
    return max(clusters.workers(client), 1)


def _gather(
    client: Client,
    spec: clusters.ClusterSpec,
    futures: Mapping[Future[Any], Partition],
    parts: Path,
    writer: _Writer,
    total: int,
    on_progress: Callable[[int, int | None], None] | None,
) -> tuple[int, int, int]:
    """Append each part to the output in file order, as soon as it and those before it are done."""
    import pyarrow as pa
    from distributed import KilledWorker, as_completed

    done: dict[int, tuple[int, int, int]] = {}
    following = rows = batches = missing = 0
    for future in as_completed(list(futures)):  # type: ignore[no-untyped-call]
        part = futures[future]
        try:
            done[part.index] = future.result()
        except KilledWorker as exc:
            raise clusters.ClusterError(
                f"cluster {spec}: a worker died scoring rows {part.first}-"
                f"{part.first + part.rows - 1} ({first_line(exc)}; out of memory?)"
            ) from None
        except OSError as exc:  # the scheduler went away: CommClosedError, StreamClosedError
            raise clusters.ClusterError(
                f"cluster {spec}: lost the scheduler ({first_line(exc)})"
            ) from None
        while following in done:
            counts = done.pop(following)
            path = parts / f"part-{following:05d}.arrow"
            if counts[0]:
                with pa.OSFile(str(path), "rb") as stream:
                    reader = pa.ipc.open_file(stream)
                    for index in range(reader.num_record_batches):
                        writer.write(pa.Table.from_batches([reader.get_batch(index)]))
                path.unlink()
            rows, batches, missing = rows + counts[0], batches + counts[1], missing + counts[2]
            following += 1
            if on_progress is not None:
                on_progress(rows, total)
    return rows, batches, missing


@contextlib.contextmanager
def _parts_directory(target: Path) -> Iterator[Path]:
    """A temp directory beside `target` for the workers' parts; removed whatever happens."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{glob.escape(target.name)}.parts-*"):
        pid = stale.name.removeprefix(f".{target.name}.parts-").split("-", 1)[0]
        if pid.isdigit() and not artifacts.pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)  # a killed run's
    path = Path(tempfile.mkdtemp(prefix=f".{target.name}.parts-{os.getpid()}-", dir=target.parent))
    try:
        mask = os.umask(0)
        os.umask(mask)
        path.chmod(0o777 & ~mask)  # workers may run as another user on a shared filesystem
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
