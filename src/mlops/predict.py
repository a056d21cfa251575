"""Batch scoring: check rows against the model signature, then score a file in bounded chunks.

`InputSchema.coerce` is the one place that decides which input types a model accepts; the
server uses it for request rows too, so a file and a request are held to the same contract.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops import artifacts, registry
from mlops.config import Config
from mlops.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 65_536
#: MLflow column types -> the numpy dtype a model receives.
FLOAT_TYPES = {"double": "float64", "float": "float32"}
INT_TYPES = {"long": "int64", "integer": "int32"}
KNOWN_TYPES = {*FLOAT_TYPES, *INT_TYPES, "string", "boolean", "datetime", "binary"}
#: Columns this module adds to every output row.
PREDICTION = "prediction"
PROBA_PREFIX = "proba_"
MODEL_COLUMNS = ("model_name", "model_version")
_SHOW_PROBLEMS = 5


@dataclass(frozen=True)
class ColumnSpec:
    """One input column of a model signature (MLflow's `{name, type, required}`)."""

    name: str
    type: str
    required: bool = True


@dataclass(frozen=True)
class Coerced:
    """Rows in the model's column order and dtypes, plus what validation noticed."""

    frame: pd.DataFrame
    ignored: tuple[str, ...]
    rows_with_missing: int


class _Unsafe(ValueError):
    """A column whose values cannot be converted without loss or guessing."""


def _first_bad(series: pd.Series, ok: Callable[[Any], bool]) -> str:
    """The type and row of the first value that is not acceptable (never the value itself)."""
    import pandas as pd

    for row, value in enumerate(series):
        if not pd.isna(value) and not ok(value):
            return f"{type(value).__name__} at row {row}"
    return str(series.dtype)


def _is_number(value: Any) -> bool:
    import numpy as np

    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _to_float(spec: ColumnSpec, series: pd.Series) -> np.ndarray:
    import numpy as np
    import pandas as pd

    target = np.dtype(FLOAT_TYPES[spec.type])
    dtype = series.dtype
    kind = getattr(dtype, "kind", "O")
    size = int(getattr(dtype, "itemsize", 8))
    if kind == "f" and (size <= target.itemsize or target == np.float64):
        values = series.to_numpy(dtype=target, na_value=np.nan)
    elif kind in "iu":
        bits = np.finfo(target).nmant + 1
        valid = series.dropna()
        if size * 8 > bits and len(valid):
            extreme = max(abs(int(valid.min())), abs(int(valid.max())))
            if extreme > 2**bits:
                raise _Unsafe(f"integers beyond 2**{bits} lose precision as {spec.type}")
        values = series.to_numpy(dtype=target, na_value=np.nan)
    elif kind == "O" or pd.api.types.is_string_dtype(dtype):
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred not in ("floating", "integer", "mixed-integer-float", "empty"):
            raise _Unsafe(f"got {_first_bad(series, _is_number)}")
        values = series.to_numpy(dtype=target, na_value=np.nan)
    else:
        raise _Unsafe(f"got {dtype}")
    if np.isinf(values).any():
        raise _Unsafe("infinite values are not allowed")
    return values


def _to_int(spec: ColumnSpec, series: pd.Series) -> np.ndarray:
    import numpy as np
    import pandas as pd

    target = np.dtype(INT_TYPES[spec.type])
    info = np.iinfo(target)
    dtype = series.dtype
    kind = getattr(dtype, "kind", "O")
    if kind == "O":
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred not in ("integer", "floating", "mixed-integer-float"):
            raise _Unsafe(f"got {_first_bad(series, _is_number)}")
        kind = "f" if series.isna().any() or inferred != "integer" else "i"
    if kind not in "iuf":
        raise _Unsafe(f"got {dtype}")
    if series.isna().any():
        raise _Unsafe("missing values in an integer column")
    if kind == "f":  # JSON writes 2008 as 2008.0: whole numbers convert exactly
        values = series.to_numpy(dtype=np.float64)
        if not np.isfinite(values).all() or (np.mod(values, 1) != 0).any():
            raise _Unsafe("got fractional or infinite values")
        if len(values) and (values.min() < info.min or values.max() > info.max):
            raise _Unsafe(f"values outside the {spec.type} range")
        return values.astype(target)
    valid = series.to_numpy()
    if len(valid) and (int(valid.min()) < info.min or int(valid.max()) > info.max):
        raise _Unsafe(f"values outside the {spec.type} range")
    return series.to_numpy(dtype=target)


def _to_string(series: pd.Series) -> Any:
    import numpy as np
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.StringDtype):
        return series.array
    if isinstance(dtype, pd.CategoricalDtype):
        series = series.astype(object)
    elif getattr(dtype, "kind", "") != "O":
        raise _Unsafe(f"got {dtype}")
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred not in ("string", "empty"):
        raise _Unsafe(f"got {_first_bad(series, lambda v: isinstance(v, str))}")
    values = series.to_numpy(dtype=object)
    missing = pd.isna(values)
    if missing.any():  # None and NaN alike: the same missing value training data had
        values = values.copy()
        values[missing] = np.nan
    return values


def _to_bool(series: pd.Series) -> np.ndarray:
    import pandas as pd

    dtype = series.dtype
    if getattr(dtype, "kind", "") == "b":
        return series.to_numpy()
    if pd.api.types.infer_dtype(series, skipna=False) == "boolean":
        return series.to_numpy(dtype=bool)
    raise _Unsafe(f"got {_first_bad(series, lambda v: isinstance(v, bool))}")


def _to_datetime(series: pd.Series) -> Any:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.array
    if pd.api.types.infer_dtype(series, skipna=True) not in ("string", "datetime", "empty"):
        raise _Unsafe(f"got {series.dtype}")
    try:
        return pd.to_datetime(series, errors="raise").array
    except (ValueError, TypeError) as exc:
        raise _Unsafe(f"not a date/time ({str(exc).splitlines()[0][:60]})") from exc


def coerce_column(spec: ColumnSpec, series: pd.Series) -> Any:
    """Convert one column to the signature's type, only where no value changes meaning."""
    if spec.type in FLOAT_TYPES:
        return _to_float(spec, series)
    if spec.type in INT_TYPES:
        return _to_int(spec, series)
    if spec.type == "string":
        return _to_string(series)
    if spec.type == "boolean":
        return _to_bool(series)
    if spec.type == "datetime":
        return _to_datetime(series)
    return series.array


def _missing_fill(spec: ColumnSpec, rows: int) -> Any:
    import numpy as np

    if spec.type in FLOAT_TYPES:
        return np.full(rows, np.nan, dtype=FLOAT_TYPES[spec.type])
    return np.full(rows, np.nan, dtype=object)


@dataclass(frozen=True)
class InputSchema:
    """The columns a model takes, read from its MLflow signature."""

    columns: tuple[ColumnSpec, ...]

    @classmethod
    def from_signature(cls, inputs: Sequence[Mapping[str, Any]]) -> InputSchema:
        specs: list[ColumnSpec] = []
        for item in inputs:
            name, kind = item.get("name"), item.get("type")
            if not isinstance(name, str) or kind not in KNOWN_TYPES:
                raise DataError(
                    f"model signature input {dict(item)!r} is not a named column of a "
                    f"supported type ({', '.join(sorted(KNOWN_TYPES))})"
                )
            specs.append(ColumnSpec(name, str(kind), bool(item.get("required", True))))
        if not specs:
            raise DataError("the model has no input signature: cannot check rows against it")
        return cls(tuple(specs))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.columns)

    def check_columns(self, present: Iterable[Any]) -> tuple[str, ...]:
        """Raise one error naming every missing required column; return the extra ones."""
        have = [str(name) for name in present]
        known = set(have)
        missing = [s.name for s in self.columns if s.required and s.name not in known]
        if missing:
            noun = "column" if len(missing) == 1 else "columns"
            raise DataError(
                f"input is missing {len(missing)} required {noun}: {', '.join(missing)} "
                f"(the model takes: {', '.join(self.names)})"
            )
        wanted = set(self.names)
        return tuple(name for name in have if name not in wanted)

    def coerce(self, frame: pd.DataFrame) -> Coerced:
        """Rows in signature order and dtypes; one DataError lists every unsafe column."""
        import numpy as np
        import pandas as pd

        ignored = self.check_columns(frame.columns)
        rows = len(frame)
        if rows == 0:
            raise DataError("input has no rows")
        if frame.columns.has_duplicates:
            dupes = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
            raise DataError(f"input has duplicate columns: {', '.join(dupes)}")
        columns: dict[str, Any] = {}
        problems: list[str] = []
        missing = np.zeros(rows, dtype=bool)
        for spec in self.columns:
            if spec.name not in frame.columns:
                columns[spec.name] = _missing_fill(spec, rows)
                missing[:] = True
                continue
            try:
                values = coerce_column(spec, frame[spec.name])
            except _Unsafe as exc:
                problems.append(f"column {spec.name!r}: expected {spec.type}, {exc}")
                continue
            columns[spec.name] = values
            missing |= np.asarray(pd.isna(values), dtype=bool)
        if problems:
            more = len(problems) - _SHOW_PROBLEMS
            shown = "; ".join(problems[:_SHOW_PROBLEMS]) + (
                f"; and {more} more" if more > 0 else ""
            )
            raise DataError(f"input does not match the model signature: {shown}")
        return Coerced(pd.DataFrame(columns, copy=False), ignored, int(missing.sum()))


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

    def argmax_matches_predict(self, frame: pd.DataFrame, rows: int = 512) -> bool:
        """Whether `predict` is the most probable class for this model (true for sklearn's)."""
        import numpy as np

        sample = frame.iloc[:rows]
        labels, _ = self.predict_with_proba(sample)
        return bool(np.array_equal(labels, self.predict(sample)))


# --------------------------------------------------------------------------- files


def _check_suffix(path: Path, role: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in artifacts.TABLE_SUFFIXES:
        raise DataError(f"{path}: unsupported {role} type {suffix!r}, use .csv or .parquet")
    return suffix


def _arrow_type(spec: ColumnSpec) -> pa.DataType:
    import pyarrow as pa

    return {
        "double": pa.float64(),
        "float": pa.float32(),
        "long": pa.int64(),
        "integer": pa.int32(),
        "boolean": pa.bool_(),
        "string": pa.string(),
        "datetime": pa.timestamp("ns"),
        "binary": pa.binary(),
    }[spec.type]


class TableSource:
    """A CSV or Parquet file read as a stream of record batches of at most `batch_size` rows."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise DataError(f"{path}: file not found")
        if path.is_dir():
            raise DataError(f"{path}: is a directory, expected a .csv or .parquet file")
        self.path = path
        self.suffix = _check_suffix(path, "input")
        if path.stat().st_size == 0:
            raise DataError(f"{path}: file is empty")
        self.columns, self.total_rows = self._inspect()

    def _inspect(self) -> tuple[list[str], int | None]:
        try:
            if self.suffix == ".csv":
                import pyarrow.csv as pacsv

                reader = pacsv.open_csv(self.path)
                return list(reader.schema.names), None
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(self.path)
            return list(meta.schema_arrow.names), meta.metadata.num_rows
        except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
            raise DataError(
                f"{self.path}: cannot read {self.suffix[1:]} file ({_line(exc)})"
            ) from exc

    def batches(self, schema: InputSchema, batch_size: int) -> Iterator[pa.RecordBatch]:
        try:
            if self.suffix == ".csv":
                yield from self._csv_batches(schema, batch_size)
            else:
                import pyarrow.parquet as pq

                yield from pq.ParquetFile(self.path).iter_batches(batch_size=batch_size)
        except DataError:
            raise
        except Exception as exc:
            if type(exc).__module__.startswith("pyarrow") or isinstance(exc, OSError):
                raise DataError(f"{self.path}: {_line(exc)}") from exc
            raise

    def _csv_batches(self, schema: InputSchema, batch_size: int) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        present = set(self.columns)
        types = {s.name: _arrow_type(s) for s in schema.columns if s.name in present}
        # Columns the model does not read pass through as text: no guess can fail mid-file.
        types.update({name: pa.string() for name in self.columns if name not in types})
        reader = pacsv.open_csv(
            self.path,
            read_options=pacsv.ReadOptions(block_size=4 << 20),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
        )
        pending: list[pa.RecordBatch] = []
        rows = 0
        for batch in reader:
            pending.append(batch)
            rows += batch.num_rows
            while rows >= batch_size:
                table = pa.Table.from_batches(pending).combine_chunks()
                yield from table.slice(0, batch_size).to_batches()
                rest = table.slice(batch_size)
                pending, rows = rest.to_batches(), rest.num_rows
        if rows:
            yield from pa.Table.from_batches(pending).combine_chunks().to_batches()


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


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
        arrays.append(pa.array([value] * batch.num_rows, type=pa.string()))
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


class _Writer:
    """Parquet or CSV output with the schema of the first chunk."""

    def __init__(self, path: Path, suffix: str) -> None:
        self.path, self.suffix = path, suffix
        self.schema: pa.Schema | None = None
        self._writer: Any = None

    def write(self, table: pa.Table) -> None:
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

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _clashes(columns: Iterable[str], scorer: Scorer) -> list[str]:
    produced = {PREDICTION, *MODEL_COLUMNS}
    if scorer.classes is not None:
        produced |= {f"{PROBA_PREFIX}{label}" for label in scorer.classes}
    return sorted(set(columns) & produced)


def score_batches(
    scorer: Scorer,
    batches: Iterable[pa.RecordBatch],
    model: tuple[str | None, str | None],
) -> Iterator[tuple[pa.Table, Coerced]]:
    """Validate and score each record batch; yield the output table for it."""
    argmax: bool | None = None
    for batch in batches:
        if batch.num_rows == 0:
            continue
        present = [name for name in scorer.schema.names if name in batch.schema.names]
        coerced = scorer.schema.coerce(batch.select(present).to_pandas())
        if argmax is None:
            argmax = scorer.is_classifier and scorer.argmax_matches_predict(coerced.frame)
        labels, proba = scorer.predict_with_proba(coerced.frame, argmax_labels=argmax)
        yield output_table(batch, labels, proba, scorer.classes, model), coerced


def predict_file(
    config: Config,
    source: Path,
    target: Path,
    *,
    model_uri: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    allow_unsafe: bool = False,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> PredictResult:
    """Score `source` into `target` chunk by chunk; `target` appears only when all rows are in."""
    if batch_size < 1:
        raise DataError(f"batch size must be at least 1 (got {batch_size})")
    out_suffix = _check_suffix(target, "output")
    if target.resolve() == source.resolve():
        raise DataError(f"{target}: output would overwrite the input")
    table = TableSource(source)
    loaded = registry.load_model(config, model_uri, allow_unsafe=allow_unsafe)
    scorer = Scorer.from_loaded(loaded)
    ignored = scorer.schema.check_columns(table.columns)
    if ignored:
        log.warning(
            "ignoring %d column(s) the model does not use: %s", len(ignored), ", ".join(ignored)
        )
    clashes = _clashes(table.columns, scorer)
    if clashes:
        raise DataError(f"{source}: input columns clash with output columns: {', '.join(clashes)}")
    model = (loaded.name, loaded.version)
    start = time.perf_counter()
    rows = chunks = missing = 0
    with artifacts.atomic_path(target) as tmp:
        writer = _Writer(tmp, out_suffix)
        try:
            for out, coerced in score_batches(
                scorer, table.batches(scorer.schema, batch_size), model
            ):
                writer.write(out)
                rows += out.num_rows
                chunks += 1
                missing += coerced.rows_with_missing
                if on_progress is not None:
                    on_progress(rows, table.total_rows)
        finally:
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
