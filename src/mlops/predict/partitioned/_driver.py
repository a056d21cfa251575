"""The driver side of `predict --cluster`: plan, submit, gather the parts in order into one
atomic output, and clean up on every exit."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops import artifacts, registry
from mlops import cluster as clusters
from mlops.errors import DataError, first_line
from mlops.predict.batch import PredictResult, Scorer, _Writer
from mlops.predict.partitioned._worker import (
    WORKER_WAIT,
    Job,
    Partition,
    ShippedModel,
    default_partition_rows,
    plan_partitions,
    score_partition,
)

if TYPE_CHECKING:
    from distributed import Client, Future

    from mlops.tracking import Store


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
