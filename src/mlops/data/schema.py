"""The schema contract: inferred at ingest, read by every later stage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from mlops import artifacts
from mlops.config import DataParams, Task
from mlops.errors import DataError, StageOrderError

if TYPE_CHECKING:
    import pandas as pd

BUILTIN_PREFIX = "builtin:"
#: A string column with more distinct values than this (and mostly unique) is free text or an id.
MAX_CATEGORIES = 100

LogicalType = Literal["integer", "float", "string", "boolean", "datetime"]
Kind = Literal["numeric", "categorical", "datetime", "text"]


class ColumnSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    dtype: LogicalType
    kind: Kind
    nullable: bool
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None


class Schema(BaseModel):
    """The frozen contract every later stage reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    source: str
    target: str
    task: Task
    rows: int
    columns: list[ColumnSchema]
    features: list[str]

    def column(self, name: str) -> ColumnSchema:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def feature_columns(self) -> list[ColumnSchema]:
        return [self.column(name) for name in self.features]


def logical_type(series: pd.Series) -> LogicalType:
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "string"


def _category_labels(values: Any) -> list[str]:
    return sorted({str(v) for v in values})


def infer_column(name: str, series: pd.Series) -> ColumnSchema:
    import numpy as np

    dtype = logical_type(series)
    nullable = bool(series.isna().any())
    present = series.dropna()
    if dtype in ("integer", "float"):
        if dtype == "float" and bool(np.isinf(present.to_numpy(dtype=float)).any()):
            raise DataError(f"column {name!r}: contains infinite values, expected finite numbers")
        if len(present) == 0:
            return ColumnSchema(name=name, dtype=dtype, kind="numeric", nullable=True)
        return ColumnSchema(
            name=name,
            dtype=dtype,
            kind="numeric",
            nullable=nullable,
            min=float(present.min()),
            max=float(present.max()),
        )
    if dtype == "datetime":
        return ColumnSchema(name=name, dtype=dtype, kind="datetime", nullable=nullable)
    distinct = present.unique()
    if len(distinct) > MAX_CATEGORIES and len(distinct) > 0.5 * len(present):
        return ColumnSchema(name=name, dtype=dtype, kind="text", nullable=nullable)
    return ColumnSchema(
        name=name,
        dtype=dtype,
        kind="categorical",
        nullable=nullable,
        categories=_category_labels(distinct),
    )


def infer_schema(frame: pd.DataFrame, params: DataParams, source: str) -> Schema:
    """Infer the contract from a dataset and check it can serve the configured task."""
    _check_columns(frame, params, source)
    try:
        columns = [infer_column(str(name), frame[name]) for name in frame.columns]
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from exc
    by_name = {col.name: col for col in columns}
    target = by_name[params.target]
    if params.features is not None:
        features = list(params.features)
    else:
        features = [
            col.name
            for col in columns
            if col.name != params.target
            and col.name not in params.drop
            and col.kind in ("numeric", "categorical")
        ]
    if not features:
        raise DataError(f"{source}: no usable feature columns besides target {params.target!r}")
    for name in features:
        if by_name[name].kind not in ("numeric", "categorical"):
            raise DataError(
                f"{source}: feature column {name!r} is {by_name[name].kind}, "
                "expected numeric or categorical"
            )
    _check_target(frame[params.target], target, params.task, source)
    return Schema(
        source=source,
        target=params.target,
        task=params.task,
        rows=len(frame),
        columns=columns,
        features=features,
    )


def _check_columns(frame: pd.DataFrame, params: DataParams, source: str) -> None:
    names = [str(c) for c in frame.columns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DataError(f"{source}: duplicate column names: {', '.join(duplicates)}")
    if params.target not in names:
        raise DataError(
            f"{source}: target column {params.target!r} not found (columns: {', '.join(names)})"
        )
    wanted = [*(params.features or []), *params.drop]
    missing = [name for name in wanted if name not in names]
    if missing:
        raise DataError(f"{source}: configured column(s) not found: {', '.join(missing)}")
    if params.features is not None and params.target in params.features:
        raise DataError(
            f"data.features: lists the target column {params.target!r}; "
            "a model must not see its own label"
        )


def _check_target(series: pd.Series, col: ColumnSchema, task: Task, source: str) -> None:
    present = series.dropna()
    if len(present) == 0:
        raise DataError(f"{source}: target column {col.name!r} has no values")
    if task == "classification":
        classes = present.nunique()
        if classes < 2:
            raise DataError(
                f"{source}: target column {col.name!r} has a single class "
                f"({present.iloc[0]!r}); classification needs at least 2"
            )
        if col.kind == "numeric" and col.dtype == "float" and classes > MAX_CATEGORIES:
            raise DataError(
                f"{source}: target column {col.name!r} looks continuous ({classes} distinct "
                "values); set data.task: regression"
            )
    elif col.kind != "numeric":
        raise DataError(
            f"{source}: target column {col.name!r} is {col.dtype}; "
            "regression needs a numeric target"
        )


def load_schema(path: Path) -> Schema:
    if not path.exists():
        raise StageOrderError(f"{path}: schema contract not found; run `mlops data ingest` first")
    try:
        return Schema.model_validate(artifacts.read_json(path))
    except DataError:
        raise
    except ValueError as exc:
        raise DataError(f"{path}: not a valid schema contract ({exc})") from exc
