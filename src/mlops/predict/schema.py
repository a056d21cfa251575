"""The model's input contract: MLflow signature columns, and the only safe conversions to them.

`InputSchema.coerce` decides which input types a model accepts, for files and for HTTP requests
alike: a value is converted only when no value can change meaning (2008.0 -> 2008, int32 ->
double); strings are never parsed into numbers and booleans are never numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: MLflow column types -> the numpy dtype a model receives.
FLOAT_TYPES = {"double": "float64", "float": "float32"}
INT_TYPES = {"long": "int64", "integer": "int32"}
KNOWN_TYPES = {*FLOAT_TYPES, *INT_TYPES, "string", "boolean", "datetime", "binary"}
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


# --------------------------------------------------------------------------- plain values


def _bad_value(values: list[Any], allowed: tuple[type, ...]) -> str:
    for row, value in enumerate(values):
        if value is not None and type(value) not in allowed:
            return f"{type(value).__name__} at row {row}"
    return "a missing value"


def coerce_values(spec: ColumnSpec, values: list[Any]) -> Any:
    """`coerce_column` for a list of JSON values (None is missing; bools are never numbers)."""
    import numpy as np
    import pandas as pd

    kinds = set(map(type, values))
    kinds.discard(type(None))
    if spec.type in FLOAT_TYPES:
        if not kinds <= {float, int}:
            raise _Unsafe(f"got {_bad_value(values, (float, int))}")
        target = np.dtype(FLOAT_TYPES[spec.type])
        bits = np.finfo(target).nmant + 1
        if int in kinds and max(abs(v) for v in values if type(v) is int) > 2**bits:
            raise _Unsafe(f"integers beyond 2**{bits} lose precision as {spec.type}")
        array = np.array(values, dtype=target)  # None -> NaN
        if np.isinf(array).any():
            raise _Unsafe("infinite values are not allowed")
        return array
    if spec.type in INT_TYPES:
        if not kinds <= {int, float}:
            raise _Unsafe(f"got {_bad_value(values, (int, float))}")
        if None in values:
            raise _Unsafe("missing values in an integer column")
        info = np.iinfo(INT_TYPES[spec.type])
        if values and (min(values) < info.min or max(values) > info.max):
            raise _Unsafe(f"values outside the {spec.type} range")
        if float in kinds:  # JSON writes 2008 as 2008.0: whole numbers convert exactly
            floats = np.array(values, dtype=np.float64)
            if not np.isfinite(floats).all() or (np.mod(floats, 1) != 0).any():
                raise _Unsafe("got fractional or infinite values")
            return floats.astype(INT_TYPES[spec.type])
        return np.array(values, dtype=INT_TYPES[spec.type])
    if spec.type == "string":
        if not kinds <= {str}:
            raise _Unsafe(f"got {_bad_value(values, (str,))}")
        if len(kinds) < 1 or None in values:
            values = [np.nan if v is None else v for v in values]
        return np.array(values, dtype=object)
    if spec.type == "boolean":
        if kinds != {bool} or None in values:
            raise _Unsafe(f"got {_bad_value(values, (bool,))}")
        return np.array(values, dtype=bool)
    if spec.type == "datetime":
        return _to_datetime(pd.Series(values, dtype=object))
    return np.array(values, dtype=object)


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
        if frame.columns.has_duplicates:
            dupes = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
            raise DataError(f"input has duplicate columns: {', '.join(dupes)}")
        present = set(frame.columns)
        return self._coerce(
            list(frame.columns),
            len(frame),
            lambda spec: coerce_column(spec, frame[spec.name]) if spec.name in present else None,
        )

    def coerce_values(
        self, columns: Mapping[str, list[Any]], names: Sequence[str], rows: int
    ) -> Coerced:
        """The same contract for plain Python values (parsed JSON), without a DataFrame first.

        `columns` holds the values of the signature columns present; `names` every column sent.
        """
        return self._coerce(
            names,
            rows,
            lambda spec: coerce_values(spec, columns[spec.name]) if spec.name in columns else None,
        )

    def _coerce(
        self, names: Sequence[Any], rows: int, convert: Callable[[ColumnSpec], Any]
    ) -> Coerced:
        import numpy as np
        import pandas as pd

        ignored = self.check_columns(names)
        if rows == 0:
            raise DataError("input has no rows")
        columns: dict[str, Any] = {}
        problems: list[str] = []
        missing = np.zeros(rows, dtype=bool)
        for spec in self.columns:
            try:
                values = convert(spec)
            except _Unsafe as exc:
                problems.append(f"column {spec.name!r}: expected {spec.type}, {exc}")
                continue
            if values is None:  # an optional column that was not sent
                values = _missing_fill(spec, rows)
            columns[spec.name] = values
            missing |= np.asarray(pd.isna(values), dtype=bool)
        if problems:
            more = len(problems) - _SHOW_PROBLEMS
            shown = "; ".join(problems[:_SHOW_PROBLEMS]) + (
                f"; and {more} more" if more > 0 else ""
            )
            raise DataError(f"input does not match the model signature: {shown}")
        index = pd.RangeIndex(rows)
        for name, values in columns.items():
            if isinstance(values, np.ndarray) and values.dtype == object:
                # Python strings stay object: pandas would convert them to Arrow strings,
                # which scikit-learn's encoders turn straight back (slower on both sides).
                columns[name] = pd.Series(values, dtype=object, index=index, copy=False)
        return Coerced(pd.DataFrame(columns, index=index, copy=False), ignored, int(missing.sum()))
