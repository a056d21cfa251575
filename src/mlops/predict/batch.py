"""Chunked scoring of CSV/Parquet files: memory follows the chunk size, not the file size.

Rows stream in as Arrow record batches, are checked against the signature (`InputSchema`),
scored, and stream out to a temp file that replaces the output only when every row is in.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops import artifacts, progress, registry, threads
from mlops.errors import DataError
from mlops.predict.schema import Coerced, InputSchema
from mlops.predict.source import TableSource, check_suffix
from mlops.tracking import Store

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from mlops.cluster import ClusterSpec

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 65_536
#: Columns added to every output row.
PREDICTION = "prediction"
PROBA_PREFIX = "proba_"
MODEL_COLUMNS = ("model_name", "model_version")
#: Rows on which `Scorer.argmax_matches_predict` compares labels with `predict`.
ARGMAX_SAMPLE_ROWS = 512


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Scorer:
    """A loaded model with its input schema and, for classifiers, its class labels."""

    model: Any
    schema: InputSchema
    classes: np.ndarray | None

    @classmethod
    def from_model(cls, model: Any, inputs: Sequence[Mapping[str, Any]]) -> Scorer:
        import numpy as np

        classes = getattr(model, "classes_", None)
        if classes is not None and not hasattr(model, "predict_proba"):
            classes = None
        return cls(
            model,
            InputSchema.from_signature(inputs),
            None if classes is None else np.asarray(classes),
        )

    @classmethod
    def from_loaded(cls, loaded: registry.LoadedModel) -> Scorer:
        return cls.from_model(loaded.model, loaded.inputs)

    @property
    def is_classifier(self) -> bool:
        return self.classes is not None

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Exactly what `model.predict` returns (what MLflow's pyfunc serves)."""
        import numpy as np

        return np.asarray(self.model.predict(frame))

    def predict_with_proba(
        self, frame: pd.DataFrame, *, argmax_labels: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels and class probabilities from one pass (labels = most probable class)."""
        import numpy as np

        if self.classes is None:
            return self.predict(frame), None
        proba = np.asarray(self.model.predict_proba(frame), dtype=np.float64)
        if argmax_labels:
            return self.classes[np.argmax(proba, axis=1)], proba
        return self.predict(frame), proba

    def argmax_matches_predict(self, frame: pd.DataFrame, rows: int = ARGMAX_SAMPLE_ROWS) -> bool:
        """Whether `predict` is the most probable class for this model (true for sklearn's)."""
        import numpy as np

        sample = frame.iloc[:rows]
        labels, _ = self.predict_with_proba(sample)
        return bool(np.array_equal(labels, self.predict(sample)))


@dataclass(frozen=True)
class PredictResult:
    output: Path
    rows: int
    batches: int
    seconds: float
    model_uri: str
    model_name: str | None
    model_version: str | None
    ignored_columns: tuple[str, ...]
    rows_with_missing: int
    #: The `--cluster` the rows were scored on (None: in this process), and in how many parts.
    cluster: str | None = None
    partitions: int = 0


def output_table(
    batch: pa.RecordBatch,
    labels: np.ndarray,
    proba: np.ndarray | None,
    classes: np.ndarray | None,
    model: tuple[str | None, str | None],
) -> pa.Table:
    """The input batch plus prediction, class probabilities and the model name/version."""
    import pyarrow as pa

    arrays = list(batch.columns)
    names = list(batch.schema.names)
    arrays.append(pa.array(labels))
    names.append(PREDICTION)
    if proba is not None and classes is not None:
        for index, label in enumerate(classes):
            arrays.append(pa.array(proba[:, index]))
            names.append(f"{PROBA_PREFIX}{label}")
    for value, name in zip(model, MODEL_COLUMNS, strict=True):
        arrays.append(pa.repeat(pa.scalar(value, type=pa.string()), batch.num_rows))
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


class _Writer:
    """Parquet or CSV output on a background thread, so writing overlaps scoring.

    At most two chunks wait in line: memory stays bounded by the chunk size.
    """

    def __init__(self, path: Path, suffix: str) -> None:
        self.path, self.suffix = path, suffix
        self.schema: pa.Schema | None = None
        self._writer: Any = None
        self._pending: queue.Queue[pa.Table | None] = queue.Queue(maxsize=2)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="mlops-writer", daemon=True)
        self._thread.start()

    def write(self, table: pa.Table) -> None:
        if self._failure is not None:
            raise self._failure
        self._pending.put(table)

    def close(self, *, check: bool = True) -> None:
        self._pending.put(None)  # the thread takes every item until this one: never blocks long
        self._thread.join()
        if self._writer is not None:
            self._writer.close()
        if check and self._failure is not None:
            raise self._failure

    def _drain(self) -> None:
        while (table := self._pending.get()) is not None:
            if self._failure is None:
                try:
                    self._write(table)
                except BaseException as exc:
                    self._failure = exc

    def _write(self, table: pa.Table) -> None:
        if self._writer is None:
            import pyarrow.csv as pacsv
            import pyarrow.parquet as pq

            self.schema = table.schema
            if self.suffix == ".csv":
                self._writer = pacsv.CSVWriter(str(self.path), table.schema)
            else:
                self._writer = pq.ParquetWriter(str(self.path), table.schema)
        elif table.schema != self.schema:
            table = table.cast(self.schema)
        self._writer.write_table(table)


def _clashes(columns: Iterable[str], scorer: Scorer) -> list[str]:
    produced = {PREDICTION, *MODEL_COLUMNS}
    if scorer.classes is not None:
        produced |= {f"{PROBA_PREFIX}{label}" for label in scorer.classes}
    return sorted(set(columns) & produced)


@contextlib.contextmanager
def warnings_silenced() -> Iterator[None]:
    """No warning filters while scoring: scikit-learn re-installs every filter around each tree
    of a forest, which with MLflow's filters costs more than reading and writing the rows."""
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("ignore")
        yield


def score_batches(
    scorer: Scorer,
    batches: Iterable[pa.RecordBatch],
    model: tuple[str | None, str | None],
    *,
    argmax: bool | None = None,
) -> Iterator[tuple[pa.Table, Coerced]]:
    """Validate and score each record batch; yield the output table for it.

    `argmax`: whether labels may be taken as the most probable class (default: checked on
    the first batch; a partition of a file passes what the first batch of the file said).
    """
    for batch in batches:
        if batch.num_rows == 0:
            continue
        present = [name for name in scorer.schema.names if name in batch.schema.names]
        coerced = scorer.schema.coerce(batch.select(present).to_pandas())
        with warnings_silenced():
            if argmax is None:
                argmax = scorer.is_classifier and scorer.argmax_matches_predict(coerced.frame)
            labels, proba = scorer.predict_with_proba(coerced.frame, argmax_labels=argmax)
        yield output_table(batch, labels, proba, scorer.classes, model), coerced


def predict_file(
    store: Store,
    source: Path,
    target: Path,
    *,
    model_uri: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    allow_unsafe: bool = False,
    n_jobs: int | None = None,
    cluster: str | None = None,
    partition_rows: int | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> PredictResult:
    """Score `source` into `target` chunk by chunk; `target` appears only when all rows are in.

    With `cluster` (`local:N` or `tcp://HOST:PORT`), a Parquet `source` is scored partition by
    partition on Dask workers (see `mlops.predict.partitioned`); every check below comes first.
    """
    if batch_size < 1:
        raise DataError(f"batch size must be at least 1 (got {batch_size})")
    spec = None
    if cluster is not None:
        from mlops import cluster as clusters

        spec = clusters.parse(cluster)  # a bad value fails before anything is loaded
    out_suffix = check_suffix(target, "output")
    if target.resolve() == source.resolve():
        raise DataError(f"{target}: output would overwrite the input")
    table = TableSource(source)
    if spec is not None and table.suffix != ".parquet":
        raise DataError(
            f"{source}: --cluster scores Parquet input only (its row groups are the "
            "partitions); convert the file to Parquet or score it without --cluster"
        )
    loaded = registry.load_model(store, model_uri, allow_unsafe=allow_unsafe)
    scorer = Scorer.from_loaded(loaded)
    try:
        ignored = scorer.schema.check_columns(table.columns)
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from exc
    table.check_flat(scorer.schema.names)
    if ignored:
        noun = "column" if len(ignored) == 1 else "columns"
        (on_warning or log.warning)(
            f"ignoring {len(ignored)} {noun} the model does not use: {', '.join(ignored)}"
        )
    clashes = _clashes(table.columns, scorer)
    if clashes:
        raise DataError(f"{source}: input columns clash with output columns: {', '.join(clashes)}")
    total, note = table.total_rows, ""
    if total is None and progress.active():
        total, note = _estimated_rows(table.path), "estimated total (file size)"
    with progress.task("predict", total=total, unit="rows", note=note) as step:

        def report(done: int, known: int | None) -> None:
            if known is None and total is not None:
                known = max(total, done)  # an estimate: never below what is done
            step.update(completed=done, total=known)
            if on_progress is not None:
                on_progress(done, table.total_rows)

        return _predict(store, table, target, out_suffix, spec, loaded, scorer, ignored,
                        batch_size, n_jobs, allow_unsafe, partition_rows, report)  # fmt: skip


def _predict(
    store: Store,
    table: TableSource,
    target: Path,
    out_suffix: str,
    spec: ClusterSpec | None,
    loaded: registry.LoadedModel,
    scorer: Scorer,
    ignored: tuple[str, ...],
    batch_size: int,
    n_jobs: int | None,
    allow_unsafe: bool,
    partition_rows: int | None,
    on_progress: Callable[[int, int | None], None],
) -> PredictResult:
    source = table.path
    if spec is not None:
        from mlops.predict.partitioned import Job, predict_partitioned

        job = Job(
            source=table.path,
            target=target,
            out_suffix=out_suffix,
            batch_size=batch_size,
            n_jobs=n_jobs,
            allow_unsafe=allow_unsafe,
            partition_rows=partition_rows,
        )
        return predict_partitioned(
            store, spec, job, loaded, scorer, ignored, on_progress=on_progress
        )
    model = (loaded.name, loaded.version)
    start = time.perf_counter()
    rows = chunks = missing = 0
    with artifacts.atomic_path(target) as tmp, threads.limited(n_jobs):
        writer = _Writer(tmp, out_suffix)
        try:
            for out, coerced in score_batches(
                scorer, table.batches(scorer.schema, batch_size), model
            ):
                writer.write(out)
                rows += out.num_rows
                chunks += 1
                missing += coerced.rows_with_missing
                on_progress(rows, table.total_rows)
        except BaseException:
            writer.close(check=False)  # the first error is the one to report
            raise
        writer.close()
        if rows == 0:
            raise DataError(f"{source}: no data rows")
    return PredictResult(
        output=target,
        rows=rows,
        batches=chunks,
        seconds=time.perf_counter() - start,
        model_uri=loaded.uri,
        model_name=loaded.name,
        model_version=loaded.version,
        ignored_columns=ignored,
        rows_with_missing=missing,
    )


def _estimated_rows(path: Path, sample: int = 1 << 20) -> int | None:
    """About how many data rows a CSV holds: its size over the bytes per line of its first MiB."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(sample)
    except OSError:
        return None
    lines = head.count(b"\n")
    if not head or lines == 0:
        return None
    return max(1, round(size * lines / len(head)) - 1)
