"""Reproducible train/test split: seeded, stratified, or by an ordering column."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mlops import artifacts
from mlops.config import SplitParams, Task
from mlops.data.schema import Schema, load_schema
from mlops.errors import DataError, StageOrderError
from mlops.project import Project

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


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


def split(project: Project) -> SplitResult:
    """Split the ingested data into train/test Parquet files."""
    paths = project.settings.paths
    if not paths.raw.exists():
        raise StageOrderError(
            f"{paths.raw}: ingested data not found; run `mlops data ingest` first"
        )
    schema = load_schema(paths.schema_file)
    frame = artifacts.read_table(paths.raw)
    if schema.target not in frame.columns:
        raise DataError(f"{paths.raw}: target column {schema.target!r} not found")
    labelled = frame.dropna(subset=[schema.target])
    dropped = len(frame) - len(labelled)
    if dropped:
        log.warning("dropped %d row(s) with a missing target %r", dropped, schema.target)
    train, test = split_frame(labelled, schema.target, schema.task, project.params.split)
    artifacts.write_table(paths.train, train)
    artifacts.write_table(paths.test, test)
    return SplitResult(paths.train, paths.test, len(train), len(test), dropped)


def split_xy(frame: pd.DataFrame, schema: Schema) -> tuple[pd.DataFrame, pd.Series]:
    """Select the contract's feature columns and the target, naming any that are missing."""
    missing = [c for c in [*schema.features, schema.target] if c not in frame.columns]
    if missing:
        raise DataError(f"dataset is missing column(s): {', '.join(missing)}")
    return frame[schema.features], frame[schema.target]


def load_split(project: Project, which: Literal["train", "test"]) -> pd.DataFrame:
    """Read a split file, or say which command to run first."""
    path = project.settings.paths.train if which == "train" else project.settings.paths.test
    if not path.exists():
        raise StageOrderError(f"{path}: {which} split not found; run `mlops data split` first")
    return artifacts.read_table(path)
