"""The schema contract's types, and reading it back."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops import artifacts
from mlops.config import Task
from mlops.data.pii import KAnonymity, PiiColumn
from mlops.errors import DataError, StageOrderError

if TYPE_CHECKING:
    pass

BUILTIN_PREFIX = "builtin:"
#: A string column with more distinct values than this (and mostly unique) is free text or an id.
MAX_CATEGORIES = 100

LogicalType = Literal["integer", "float", "string", "boolean", "datetime"]
Kind = Literal["numeric", "categorical", "datetime", "text"]
#: What a column is for: the label, a model input, a row number or key, or neither.
Role = Literal["target", "feature", "identifier", "excluded"]


class ColumnSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    dtype: LogicalType
    kind: Kind
    nullable: bool
    min: float | None = None
    max: float | None = None
    #: Categorical: the labels, sorted; ordered (ordinal) columns: the levels, lowest first.
    categories: list[str] | None = None
    #: Ordered categories (`data.ordinal` or an ordered pandas categorical): encoded in order.
    ordered: bool = False
    #: None in contracts written before roles were recorded.
    role: Role | None = None
    #: Why an identifier or excluded column is not a feature.
    excluded_reason: str | None = None


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
    #: Columns the ingest scan took for personal data, with the `data.pii` decision (no values).
    pii: list[PiiColumn] = Field(default_factory=list)
    #: k-anonymity of `data.quasi_identifiers` (None: none declared).
    k_anonymity: KAnonymity | None = None
    #: Rows without a target value: never trained or tested on; `mlops data split` drops them.
    unlabelled_rows: int = 0

    def personal(self) -> dict[str, str]:
        """Personal columns still in the data (hashed or kept), with their decision: what
        tracked artifacts must redact."""
        names = {col.name for col in self.columns}
        return {p.column: p.decision or "undecided" for p in self.pii if p.column in names}

    def column(self, name: str) -> ColumnSchema:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def feature_columns(self) -> list[ColumnSchema]:
        return [self.column(name) for name in self.features]

    def identifiers(self) -> dict[str, str]:
        """Row-number and key columns, with why each was taken for one."""
        return {
            col.name: col.excluded_reason or "an identifier"
            for col in self.columns
            if col.role == "identifier"
        }


def load_schema(path: Path) -> Schema:
    if not path.exists():
        raise StageOrderError(f"{path}: schema contract not found; run `mlops data ingest` first")
    try:
        return Schema.model_validate(artifacts.read_json(path))
    except DataError:
        raise
    except ValueError as exc:
        raise DataError(f"{path}: not a valid schema contract ({exc})") from exc
