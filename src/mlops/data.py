"""Data capability: ingest a source, infer and enforce a schema contract, split reproducibly."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops import artifacts
from mlops.config import Config, DataParams, SplitParams, Task
from mlops.errors import DataError, StageOrderError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

BUILTIN_PREFIX = "builtin:"
#: A string column with more distinct values than this (and mostly unique) is free text or an id.
MAX_CATEGORIES = 100

LogicalType = Literal["integer", "float", "string", "boolean", "datetime"]
Kind = Literal["numeric", "categorical", "datetime", "text"]


# --------------------------------------------------------------------------- schema contract


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
    dtype = logical_type(series)
    nullable = bool(series.isna().any())
    present = series.dropna()
    if dtype in ("integer", "float"):
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
    columns = [infer_column(str(name), frame[name]) for name in frame.columns]
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
            f"{source}: target column {params.target!r} not found "
            f"(columns: {', '.join(names)})"
        )
    wanted = [*(params.features or []), *params.drop]
    missing = [name for name in wanted if name not in names]
    if missing:
        raise DataError(f"{source}: configured column(s) not found: {', '.join(missing)}")


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
            f"{source}: target column {col.name!r} is {col.dtype}; regression needs a numeric target"
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


# --------------------------------------------------------------------------- ingest


def _builtin_penguins() -> pd.DataFrame:
    import palmerpenguins

    return palmerpenguins.load_penguins()


def _sklearn_loader(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, f"load_{name}")(as_frame=True)
        frame: pd.DataFrame = bunch.frame
        return frame

    return load


#: Real public datasets shipped inside pip packages: nothing is downloaded at run time.
BUILTIN_DATASETS: dict[str, Callable[[], pd.DataFrame]] = {
    "penguins": _builtin_penguins,
    "iris": _sklearn_loader("iris"),
    "wine": _sklearn_loader("wine"),
    "breast_cancer": _sklearn_loader("breast_cancer"),
    "diabetes": _sklearn_loader("diabetes"),
}


def read_source(source: str) -> pd.DataFrame:
    """Read `builtin:<name>` or a CSV/Parquet path."""
    if source.startswith(BUILTIN_PREFIX):
        name = source.removeprefix(BUILTIN_PREFIX)
        loader = BUILTIN_DATASETS.get(name)
        if loader is None:
            known = ", ".join(f"{BUILTIN_PREFIX}{n}" for n in BUILTIN_DATASETS)
            raise DataError(f"data.source: unknown builtin dataset {source!r} (known: {known})")
        return loader()
    return artifacts.read_table(Path(source))


@dataclass(frozen=True)
class IngestResult:
    raw_path: Path
    schema_path: Path
    schema: Schema


def ingest(config: Config) -> IngestResult:
    """Read the configured source, freeze its schema contract, and write both atomically."""
    params = config.params.data
    paths = config.settings.paths
    frame = read_source(params.source)
    frame.columns = [str(c) for c in frame.columns]
    schema = infer_schema(frame, params, params.source)
    artifacts.write_table(paths.raw, frame)
    artifacts.write_json(paths.schema_file, schema.model_dump(mode="json"))
    return IngestResult(raw_path=paths.raw, schema_path=paths.schema_file, schema=schema)


# --------------------------------------------------------------------------- validate


class Violation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    check: Literal["missing_column", "extra_column", "dtype", "nulls", "unseen_category", "range"]
    expected: str
    actual: str
    count: int = 0
    rows: list[int] = Field(default_factory=list)


class ValidationReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str
    schema_path: str
    rows: int
    checked_columns: int
    violations: list[Violation]

    @property
    def passed(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, **self.model_dump(mode="json")}


def _compatible(expected: LogicalType, series: pd.Series) -> bool:
    actual = logical_type(series)
    if actual == expected:
        return True
    if expected == "float" and actual == "integer":
        return True
    if expected == "integer" and actual == "float":
        present = series.dropna()
        return bool((present == present.round()).all())
    return False


def _first_rows(mask: Any, limit: int = 5) -> list[int]:
    import numpy as np

    return [int(i) + 1 for i in np.flatnonzero(np.asarray(mask))[:limit]]


def validate_frame(frame: pd.DataFrame, schema: Schema, dataset: str, schema_path: str) -> ValidationReport:
    """Check every column against the contract and collect all violations at once."""
    violations: list[Violation] = []
    present = {str(c) for c in frame.columns}
    expected_names = [col.name for col in schema.columns]
    for name in expected_names:
        if name not in present:
            violations.append(
                Violation(column=name, check="missing_column", expected="present", actual="absent")
            )
    for name in frame.columns:
        if str(name) not in expected_names:
            violations.append(
                Violation(column=str(name), check="extra_column", expected="absent", actual="present")
            )
    for col in schema.columns:
        if col.name not in present:
            continue
        series = frame[col.name]
        violations.extend(_check_column(series, col))
    return ValidationReport(
        dataset=dataset,
        schema_path=schema_path,
        rows=len(frame),
        checked_columns=len(schema.columns),
        violations=violations,
    )


def _check_column(series: pd.Series, col: ColumnSchema) -> list[Violation]:
    found: list[Violation] = []
    nulls = series.isna()
    if not col.nullable and bool(nulls.any()):
        found.append(
            Violation(
                column=col.name,
                check="nulls",
                expected="no missing values",
                actual=f"{int(nulls.sum())} missing",
                count=int(nulls.sum()),
                rows=_first_rows(nulls),
            )
        )
    if not _compatible(col.dtype, series):
        found.append(
            Violation(
                column=col.name,
                check="dtype",
                expected=col.dtype,
                actual=logical_type(series),
            )
        )
        return found
    if col.kind == "numeric" and (col.min is not None or col.max is not None):
        low = series < col.min if col.min is not None else False
        high = series > col.max if col.max is not None else False
        outside = low | high
        if bool(outside.any()):
            values = series[outside]
            found.append(
                Violation(
                    column=col.name,
                    check="range",
                    expected=f"[{col.min:g}, {col.max:g}]",
                    actual=f"{values.min():g} .. {values.max():g}",
                    count=int(outside.sum()),
                    rows=_first_rows(outside),
                )
            )
    if col.kind == "categorical" and col.categories is not None:
        labels = series.astype("string")
        known = set(col.categories)
        unseen_mask = labels.notna() & ~labels.isin(known)
        if bool(unseen_mask.any()):
            unseen = sorted(set(labels[unseen_mask].astype(str)))
            shown = ", ".join(repr(v) for v in unseen[:10])
            more = f" (+{len(unseen) - 10} more)" if len(unseen) > 10 else ""
            found.append(
                Violation(
                    column=col.name,
                    check="unseen_category",
                    expected=f"one of {len(known)} known categories",
                    actual=shown + more,
                    count=int(unseen_mask.sum()),
                    rows=_first_rows(unseen_mask),
                )
            )
    return found


def validate(config: Config, dataset: Path | None = None) -> ValidationReport:
    """Validate `dataset` (default: the ingested one) and write `reports/validation.json`."""
    paths = config.settings.paths
    schema = load_schema(paths.schema_file)
    target = dataset if dataset is not None else paths.raw
    if dataset is None and not target.exists():
        raise StageOrderError(f"{target}: ingested data not found; run `mlops data ingest` first")
    frame = artifacts.read_table(target)
    report = validate_frame(frame, schema, str(target), str(paths.schema_file))
    artifacts.write_json(paths.reports / "validation.json", report.to_json())
    return report


# --------------------------------------------------------------------------- split


@dataclass(frozen=True)
class SplitResult:
    train_path: Path
    test_path: Path
    train_rows: int
    test_rows: int
    dropped_rows: int


def split_frame(
    frame: pd.DataFrame, target: str, task: Task, params: SplitParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded split: stratified for classification, or by an ordering column (last rows = test)."""
    from sklearn.model_selection import train_test_split

    if params.order_by is not None:
        if params.order_by not in frame.columns:
            raise DataError(f"split.order_by: column {params.order_by!r} not found in the data")
        ordered = frame.sort_values(params.order_by, kind="stable")
        cut = len(ordered) - max(1, round(len(ordered) * params.test_size))
        if cut < 1:
            raise DataError(f"split: {len(frame)} rows are too few to split")
        return ordered.iloc[:cut].reset_index(drop=True), ordered.iloc[cut:].reset_index(drop=True)
    stratify = None
    if task == "classification" and params.stratify:
        counts = frame[target].value_counts()
        rare = counts[counts < 2]
        if len(rare):
            raise DataError(
                f"split: class {rare.index[0]!r} of {target!r} has a single row; stratified split "
                "needs at least 2 per class (set split.stratify: false)"
            )
        stratify = frame[target]
    try:
        train, test = train_test_split(
            frame, test_size=params.test_size, random_state=params.seed, stratify=stratify
        )
    except ValueError as exc:
        raise DataError(f"split: {exc}") from exc
    return train.reset_index(drop=True), test.reset_index(drop=True)


def split(config: Config) -> SplitResult:
    """Split the ingested data into train/test Parquet files."""
    paths = config.settings.paths
    if not paths.raw.exists():
        raise StageOrderError(f"{paths.raw}: ingested data not found; run `mlops data ingest` first")
    schema = load_schema(paths.schema_file)
    frame = artifacts.read_table(paths.raw)
    if schema.target not in frame.columns:
        raise DataError(f"{paths.raw}: target column {schema.target!r} not found")
    labelled = frame.dropna(subset=[schema.target])
    dropped = len(frame) - len(labelled)
    if dropped:
        log.warning("dropped %d row(s) with a missing target %r", dropped, schema.target)
    train, test = split_frame(labelled, schema.target, schema.task, config.params.split)
    artifacts.write_table(paths.train, train)
    artifacts.write_table(paths.test, test)
    return SplitResult(paths.train, paths.test, len(train), len(test), dropped)


def split_xy(frame: pd.DataFrame, schema: Schema) -> tuple[pd.DataFrame, pd.Series]:
    """Select the contract's feature columns and the target, naming any that are missing."""
    missing = [c for c in [*schema.features, schema.target] if c not in frame.columns]
    if missing:
        raise DataError(f"dataset is missing column(s): {', '.join(missing)}")
    return frame[schema.features], frame[schema.target]


def load_split(config: Config, which: Literal["train", "test"]) -> pd.DataFrame:
    """Read a split file, or say which command to run first."""
    path = config.settings.paths.train if which == "train" else config.settings.paths.test
    if not path.exists():
        raise StageOrderError(f"{path}: {which} split not found; run `mlops data split` first")
    return artifacts.read_table(path)
