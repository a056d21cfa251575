"""Data capability: ingest a source, infer and enforce a schema contract, split reproducibly."""

from mlops.data.identifiers import identifier_reason
from mlops.data.ingest import BUILTIN_DATASETS, IngestResult, ingest, read_source
from mlops.data.schema import (
    BUILTIN_PREFIX,
    ColumnSchema,
    Schema,
    infer_column,
    infer_schema,
    load_schema,
    logical_type,
)
from mlops.data.split import SplitResult, load_split, split, split_frame, split_xy
from mlops.data.validate import ValidationReport, Violation, validate, validate_frame

__all__ = [
    "BUILTIN_DATASETS",
    "BUILTIN_PREFIX",
    "ColumnSchema",
    "IngestResult",
    "Schema",
    "SplitResult",
    "ValidationReport",
    "Violation",
    "identifier_reason",
    "infer_column",
    "infer_schema",
    "ingest",
    "load_schema",
    "load_split",
    "logical_type",
    "read_source",
    "split",
    "split_frame",
    "split_xy",
    "validate",
    "validate_frame",
]
