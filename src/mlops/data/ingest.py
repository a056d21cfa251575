"""Ingest: read a builtin dataset or a CSV/Parquet file and freeze its schema contract."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlops import artifacts
from mlops.config import CsvParams
from mlops.data.schema import BUILTIN_PREFIX, Schema, as_labels, infer_schema
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


def ingest(project: Project) -> IngestResult:
    """Read the configured source, freeze its schema contract, and write both atomically."""
    params = project.params.data
    paths = project.settings.paths
    source = project.source_file()
    frame = read_source(params.source if source is None else str(source), params.csv)
    frame.columns = [str(c) for c in frame.columns]
    schema = infer_schema(frame, params, params.source)
    for col in schema.columns:
        if col.ordered:  # stored as text labels: the contract holds the order
            frame[col.name] = as_labels(frame[col.name])
    artifacts.write_table(paths.raw, frame)
    artifacts.write_json(paths.schema_file, schema.model_dump(mode="json"))
    return IngestResult(raw_path=paths.raw, schema_path=paths.schema_file, schema=schema)
