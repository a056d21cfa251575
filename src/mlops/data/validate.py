"""Validate a dataset against the schema contract, collecting every violation at once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops import artifacts
from mlops.data.schema import ColumnSchema, LogicalType, Schema, load_schema, logical_type
from mlops.errors import StageOrderError
from mlops.project import Project

if TYPE_CHECKING:
    import pandas as pd


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
    #: Rows without a target value (not a violation: `mlops data split` drops them).
    unlabelled_rows: int = 0

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


def validate_frame(
    frame: pd.DataFrame, schema: Schema, dataset: str, schema_path: str
) -> ValidationReport:
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
                Violation(
                    column=str(name), check="extra_column", expected="absent", actual="present"
                )
            )
    personal = set(schema.personal())
    for col in schema.columns:
        if col.name not in present:
            continue
        series = frame[col.name]
        violations.extend(_check_column(series, col, personal=col.name in personal))
    return ValidationReport(
        dataset=dataset,
        schema_path=schema_path,
        rows=len(frame),
        checked_columns=len(schema.columns),
        violations=violations,
        unlabelled_rows=int(frame[schema.target].isna().sum()) if schema.target in present else 0,
    )


def _check_column(series: pd.Series, col: ColumnSchema, *, personal: bool) -> list[Violation]:
    """The column's violations; values of a personal column (`data.pii`) are never quoted."""
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
    if col.role == "identifier":  # new rows bring new keys: their range says nothing
        return found
    if col.kind == "numeric" and (col.min is not None or col.max is not None):
        outside = series.isna() & False
        if col.min is not None:
            outside |= series < col.min
        if col.max is not None:
            outside |= series > col.max
        # Nullable dtypes (Int64, Float64) compare missing values to <NA>: not out of range.
        outside = outside.fillna(False).astype(bool)
        if bool(outside.any()):
            values = series[outside]
            low = "-inf" if col.min is None else f"{col.min:g}"
            high = "inf" if col.max is None else f"{col.max:g}"
            found.append(
                Violation(
                    column=col.name,
                    check="range",
                    expected=f"[{low}, {high}]",
                    actual=(
                        f"{int(outside.sum())} values outside (personal data: not shown)"
                        if personal
                        else f"{values.min():g} .. {values.max():g}"
                    ),
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
            if personal:
                shown, more = f"{len(unseen)} unseen values (personal data: not shown)", ""
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


def validate(project: Project, dataset: Path | None = None) -> ValidationReport:
    """Validate `dataset` (default: the ingested one) and write `reports/validation.json`."""
    paths = project.settings.paths
    schema = load_schema(paths.schema_file)
    target = dataset if dataset is not None else paths.raw
    if dataset is None and not target.exists():
        raise StageOrderError(f"{target}: ingested data not found; run `mlops data ingest` first")
    frame = artifacts.read_table(target)
    report = validate_frame(frame, schema, str(target), str(paths.schema_file))
    artifacts.write_json(paths.reports / "validation.json", report.to_json())
    return report
