"""The schema contract: inferred at ingest, read by every later stage."""

from __future__ import annotations

from mlops.data.schema._contract import (
    BUILTIN_PREFIX,
    MAX_CATEGORIES,
    ColumnSchema,
    Kind,
    LogicalType,
    Role,
    Schema,
    load_schema,
)
from mlops.data.schema._infer import (
    as_labels,
    infer_column,
    infer_schema,
    iso_dates,
    logical_type,
    ordered_levels,
)

__all__ = [
    "BUILTIN_PREFIX",
    "MAX_CATEGORIES",
    "ColumnSchema",
    "Kind",
    "LogicalType",
    "Role",
    "Schema",
    "as_labels",
    "infer_column",
    "infer_schema",
    "iso_dates",
    "load_schema",
    "logical_type",
    "ordered_levels",
]
