"""Ingest: read a builtin dataset or a CSV/Parquet file and freeze its schema contract."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlops import artifacts, progress
from mlops.config import CsvParams, DataParams
from mlops.data import pii
from mlops.data.numeric_text import check_numeric_text
from mlops.data.schema import BUILTIN_PREFIX, ColumnSchema, Schema, as_labels, infer_schema
from mlops.errors import DataError
from mlops.project import Project

if TYPE_CHECKING:
    import pandas as pd


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


def read_source(source: str, csv: CsvParams | None = None) -> pd.DataFrame:
    """Read `builtin:<name>` or a CSV/Parquet path (a CSV read as `csv` says, else sniffed)."""
    if source.startswith(BUILTIN_PREFIX):
        name = source.removeprefix(BUILTIN_PREFIX)
        loader = BUILTIN_DATASETS.get(name)
        if loader is None:
            known = ", ".join(f"{BUILTIN_PREFIX}{n}" for n in BUILTIN_DATASETS)
            raise DataError(f"data.source: unknown builtin dataset {source!r} (known: {known})")
        return loader()
    return artifacts.read_table(Path(source), csv, setting="data.csv")


@dataclass(frozen=True)
class IngestResult:
    raw_path: Path
    schema_path: Path
    schema: Schema


@dataclass(frozen=True)
class PersonalData:
    """What the PII scan found and what became of it (before the schema is inferred)."""

    frame: pd.DataFrame
    records: list[pii.PiiColumn]
    k_anonymity: pii.KAnonymity | None
    #: Hashed and kept personal columns: identifiers (not features unless `data.features`
    #: lists them: a model would hold a kept column's values), with why.
    identifiers: dict[str, str]


def protect(frame: pd.DataFrame, params: DataParams, source: str, root: Path) -> PersonalData:
    """Scan for personal data and apply `data.pii`: stop on undecided columns, drop, hash.

    Raises DataError naming every flagged column without a decision (nothing is written).
    """
    pii.check_decided_columns(frame, params.pii, params.quasi_identifiers, source)
    findings = pii.scan(frame)
    pending = pii.undecided(findings, params.pii)
    if pending:
        raise DataError(pii.undecided_message(source, pending))
    flagged = {f.column for f in findings}
    for name in params.pii:
        if name not in flagged:  # a decision for a column the scan does not flag still holds
            findings.append(pii.ColumnFinding(column=name, kind="declared", share=0.0, sampled=0))
    wants_key = any(d == "hash" for d in params.pii.values())
    key = pii.load_key(root) if wants_key else None
    k_anon = pii.k_anonymity(frame, list(params.quasi_identifiers))
    protected = pii.apply_decisions(frame, params.pii, key)
    personal = {
        name: f"personal data ({'keyed hash' if decision == 'hash' else 'kept raw'}, data.pii)"
        for name, decision in params.pii.items()
        if decision != "drop"
    }
    return PersonalData(protected, pii.records(findings, params.pii), k_anon, personal)


def _without_values(col: ColumnSchema, decision: str | None) -> ColumnSchema:
    """A kept personal column's contract entry without raw values (no categories, no range);
    ordered levels stay (they are the encoding)."""
    if decision != "keep":
        return col
    update: dict[str, object] = {"min": None, "max": None}
    if not col.ordered:
        update["categories"] = None
    return col.model_copy(update=update)


def ingest(project: Project) -> IngestResult:
    """Read the configured source, scan it for personal data and apply `data.pii`, freeze its
    schema contract, and write both atomically."""
    params = project.params.data
    paths = project.settings.paths
    source = project.source_file()
    with progress.task(
        "ingest", total=4, unit="steps", note=f"reading {_described(source, params.source)}"
    ) as step:
        frame = read_source(params.source if source is None else str(source), params.csv)
        frame.columns = [str(c) for c in frame.columns]
        step.update(completed=1, note="scanning for personal data")
        personal = protect(frame, params, params.source, project.root)
        frame = personal.frame
        if source is not None:
            check_numeric_text(
                frame,
                params.source,
                csv=source.suffix.lower() == ".csv",
                skip=(*params.drop, *params.pii, *params.ordinal, *personal.identifiers),
            )
        step.update(completed=2, note="inferring the schema contract")
        dropped = {name for name, decision in params.pii.items() if decision == "drop"}
        kept = params.model_copy(update={"drop": [n for n in params.drop if n not in dropped]})
        schema = infer_schema(frame, kept, params.source, personal.identifiers)
        schema = schema.model_copy(
            update={
                "pii": personal.records,
                "k_anonymity": personal.k_anonymity,
                "columns": [
                    _without_values(col, params.pii.get(col.name)) for col in schema.columns
                ],
            }
        )
        for col in schema.columns:
            if col.ordered:  # stored as text labels: the contract holds the order
                frame[col.name] = as_labels(frame[col.name])
        step.update(completed=3, note=f"writing {paths.raw.name}")
        artifacts.write_table(paths.raw, frame)
        artifacts.write_json(paths.schema_file, schema.model_dump(mode="json"))
    return IngestResult(raw_path=paths.raw, schema_path=paths.schema_file, schema=schema)


def _described(path: Path | None, source: str) -> str:
    """`big.csv (1.2 GB)` for a progress line (the source as written for a builtin dataset)."""
    if not progress.active() or path is None or not path.is_file():
        return source
    size = path.stat().st_size / 1000
    for unit in ("kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            break
        size /= 1000
    return f"{path.name} ({size:.1f} {unit})"


@dataclass(frozen=True)
class ScanReport:
    """`mlops data scan`: the personal-data classification of one file, with decisions."""

    path: str
    rows: int
    columns: int
    seconds: float
    findings: list[pii.PiiColumn]
    #: Whether decisions were known (inside a project: `data.pii`).
    decided_by_params: bool

    @property
    def undecided(self) -> list[pii.PiiColumn]:
        return [f for f in self.findings if f.decision is None]

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "rows": self.rows,
            "columns_scanned": self.columns,
            "seconds": round(self.seconds, 3),
            "undecided": [f.column for f in self.undecided],
            "columns": [
                {**f.model_dump(mode="json"), "evidence": f.evidence} for f in self.findings
            ],
        }


def scan_source(path: Path, params: DataParams | None = None) -> ScanReport:
    """Scan a CSV/Parquet file for personal data; `params` (a project's) supply the decisions
    and how to read a CSV."""
    import time

    frame = artifacts.read_table(path, params.csv if params else None, setting="data.csv")
    frame.columns = [str(c) for c in frame.columns]
    start = time.perf_counter()
    findings = pii.scan(frame)
    seconds = time.perf_counter() - start
    decisions = params.pii if params is not None else {}
    return ScanReport(
        path=str(path),
        rows=len(frame),
        columns=len(frame.columns),
        seconds=seconds,
        findings=pii.records(findings, decisions),
        decided_by_params=params is not None,
    )
