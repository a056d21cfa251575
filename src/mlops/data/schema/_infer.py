"""Inferring the schema contract from a frame at ingest."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlops.config import DataParams, Task
from mlops.data.identifiers import identifier_reason
from mlops.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

from mlops.data.schema._contract import MAX_CATEGORIES, ColumnSchema, LogicalType, Role, Schema

log = logging.getLogger(__name__)


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


#: An ISO 8601 date, optionally with a time and a UTC offset (2024-03-01, 2024-03-01T10:00:00Z).
_ISO_DATE = r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"


def iso_dates(values: Any) -> bool:
    """Whether every value is text holding a valid ISO 8601 date (or date and time)."""
    import pandas as pd

    texts = pd.Series(values, dtype=object)
    if texts.empty or not texts.map(lambda v: isinstance(v, str)).all():
        return False
    if not texts.str.fullmatch(_ISO_DATE).all():
        return False
    parsed = pd.to_datetime(texts, format="ISO8601", errors="coerce", utc=True)
    return not bool(parsed.isna().any())


def _category_labels(values: Any) -> list[str]:
    return sorted({str(v) for v in values})


def ordered_levels(series: pd.Series) -> list[str] | None:
    """The levels of an ordered pandas categorical, lowest first (None for anything else)."""
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) and dtype.ordered:
        return [str(level) for level in dtype.categories]
    return None


def as_labels(series: pd.Series) -> pd.Series:
    """Values as text labels (missing values stay missing): how ordinal columns are stored."""
    import pandas as pd

    values = series.astype(object)
    labels = values.where(values.isna(), values.map(str))
    return labels.astype(pd.StringDtype(na_value=float("nan")))


def _ordinal_column(name: str, series: pd.Series, levels: list[str]) -> ColumnSchema:
    present = series.dropna()
    known = set(levels)
    outside = sorted({str(v) for v in present.unique()} - known)
    if outside:
        shown = ", ".join(repr(v) for v in outside[:10])
        more = f" (+{len(outside) - 10} more)" if len(outside) > 10 else ""
        raise DataError(
            f"column {name!r} has value(s) not among its levels: {shown}{more} "
            f"(levels: {', '.join(levels)})"
        )
    return ColumnSchema(
        name=name,
        dtype="string",
        kind="categorical",
        nullable=bool(series.isna().any()),
        categories=list(levels),
        ordered=True,
    )


def infer_column(name: str, series: pd.Series, levels: list[str] | None = None) -> ColumnSchema:
    """Type, kind, nullability and range of one column; `levels` declare it ordinal."""
    import numpy as np

    levels = levels if levels is not None else ordered_levels(series)
    if levels is not None:
        return _ordinal_column(name, series, levels)
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
    if iso_dates(distinct):  # a CSV's dates arrive as text: a date, not a category per day
        return ColumnSchema(name=name, dtype=dtype, kind="datetime", nullable=nullable)
    if len(distinct) > MAX_CATEGORIES and len(distinct) > 0.5 * len(present):
        return ColumnSchema(name=name, dtype=dtype, kind="text", nullable=nullable)
    return ColumnSchema(
        name=name,
        dtype=dtype,
        kind="categorical",
        nullable=nullable,
        categories=_category_labels(distinct),
    )


def infer_schema(
    frame: pd.DataFrame,
    params: DataParams,
    source: str,
    identifiers: Mapping[str, str] | None = None,
) -> Schema:
    """Infer the contract from a dataset and check it can serve the configured task.

    Ordinal columns (`data.ordinal`, ordered categoricals) are recorded with their levels;
    row-number and key columns (and the columns `identifiers` names, with why: hashed personal
    data) are recorded as identifiers and not used as features unless `data.features` lists
    them.
    """
    forced = dict(identifiers or {})
    _check_columns(frame, params, source)
    ordinal = _ordinal_levels(frame, params, source)
    columns: list[ColumnSchema] = []
    for name in frame.columns:
        try:
            columns.append(infer_column(str(name), frame[name], ordinal.get(str(name))))
        except DataError as exc:
            key = f"data.ordinal.{name}: " if name in ordinal else ""
            raise DataError(f"{source}: {key}{exc}") from exc
    by_name = {col.name: col for col in columns}
    target = by_name[params.target]
    identifiers = {
        col.name: reason
        for col in columns
        if not col.ordered
        and (reason := identifier_reason(col.name, frame[col.name], params.target)) is not None
    }
    identifiers.update({name: why for name, why in forced.items() if name in by_name})
    if params.features is not None:
        features = list(params.features)
    else:
        features = [
            col.name
            for col in columns
            if col.name != params.target
            and col.name not in params.drop
            and col.name not in identifiers
            and col.kind in ("numeric", "categorical")
        ]
    _check_target(frame[params.target], target, params.task, source)
    if not features:
        excluded = [n for n in identifiers if n not in params.drop]
        note = (
            f" (identifier columns not used: {', '.join(excluded)}; list one in data.features "
            "to use it)"
            if excluded
            else ""
        )
        raise DataError(
            f"{source}: no usable feature columns besides target {params.target!r}{note}"
        )
    for name in features:
        if by_name[name].kind not in ("numeric", "categorical"):
            raise DataError(
                f"{source}: feature column {name!r} is {by_name[name].kind}, "
                "expected numeric or categorical"
            )
    chosen = set(features)
    columns = [_with_role(col, params, chosen, identifiers) for col in columns]
    for name, reason in identifiers.items():
        if name in chosen:
            log.warning(
                "column %r looks like an identifier (%s) but data.features lists it", name, reason
            )
        elif name not in params.drop:
            log.warning(
                "column %r is not used as a feature: %s (list it in data.features to use it)",
                name,
                reason,
            )
    unlabelled = int(frame[params.target].isna().sum())
    if unlabelled:
        log.warning(
            "%s: %d of %d row(s) have no value in target %r: `mlops data split` drops them "
            "(recorded in the contract as unlabelled_rows)",
            source,
            unlabelled,
            len(frame),
            params.target,
        )
    return Schema(
        source=source,
        target=params.target,
        task=params.task,
        rows=len(frame),
        columns=columns,
        features=features,
        unlabelled_rows=unlabelled,
    )


def _with_role(
    col: ColumnSchema, params: DataParams, features: set[str], identifiers: dict[str, str]
) -> ColumnSchema:
    """The column with its role and, when it is not a feature, why not."""
    reason: str | None = None
    if col.name == params.target:
        role: Role = "target"
    elif col.name in features:
        role = "feature"
    elif col.name in identifiers:
        role, reason = "identifier", identifiers[col.name]
    else:
        role = "excluded"
        if col.name in params.drop:
            reason = "listed in data.drop"
        elif params.features is not None:
            reason = "not listed in data.features"
        elif col.kind == "text":
            reason = "free text or a key: too many distinct values for a category"
        elif col.kind == "datetime":
            reason = "date/time values are not used as features"
        else:
            reason = f"{col.kind} values are not used as features"
    return col.model_copy(update={"role": role, "excluded_reason": reason})


def _ordinal_levels(frame: pd.DataFrame, params: DataParams, source: str) -> dict[str, list[str]]:
    """`data.ordinal` checked against the data: each column exists, holds text, and lists
    each level once."""
    import pandas as pd

    for name, levels in params.ordinal.items():
        key = f"data.ordinal.{name}"
        if name not in frame.columns:
            raise DataError(f"{key}: column {name!r} not found in {source}")
        if not levels:
            raise DataError(f"{key}: lists no levels")
        repeated = sorted({level for level in levels if levels.count(level) > 1})
        if repeated:
            raise DataError(f"{key}: level(s) listed more than once: {', '.join(repeated)}")
        series = frame[name]
        if not (
            isinstance(series.dtype, pd.CategoricalDtype)
            or logical_type(series) == "string"
            or series.isna().all()
        ):
            raise DataError(
                f"{key}: column {name!r} holds {logical_type(series)} values, already ordered "
                "as numbers; ordinal levels are for text categories"
            )
    return dict(params.ordinal)


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
