"""`mlops explain`: per-row top contributions for a small batch of rows from a file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops import registry
from mlops.card.explain import MAX_ROWS, METHOD, RowExplanation, explain_rows, reference_values
from mlops.data import load_split
from mlops.errors import DataError, StageOrderError
from mlops.predict import InputSchema, TableSource
from mlops.project import Project
from mlops.tracking import Store


@dataclass(frozen=True)
class ExplainResult:
    model_uri: str
    method: str
    rows: list[RowExplanation]

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model_uri,
            "method": self.method,
            "rows": [row.to_json() for row in self.rows],
        }


def explain_file(
    project: Project,
    store: Store,
    source: Path,
    *,
    model_uri: str | None = None,
    rows: int = 10,
    top: int = 5,
) -> ExplainResult:
    """Check the first `rows` rows of `source` against the model's signature (as `mlops
    predict` does) and explain each by occlusion against the training split."""
    if not 1 <= rows <= MAX_ROWS:
        raise DataError(f"--rows must be between 1 and {MAX_ROWS} (got {rows})")
    table = TableSource(source)
    loaded = registry.load_model(store, model_uri, allow_unsafe=project.allow_unsafe_model)
    schema = InputSchema.from_signature(loaded.inputs)
    try:
        schema.check_columns(table.columns)
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from exc
    batch = next(iter(table.batches(schema, rows)), None)
    if batch is None or batch.num_rows == 0:
        raise DataError(f"{source}: input has no rows")
    batch = batch.slice(0, rows)
    present = [name for name in schema.names if name in batch.schema.names]
    try:
        frame = schema.coerce(batch.select(present).to_pandas()).frame
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from exc
    if not project.settings.paths.train.is_file():
        raise StageOrderError(
            f"{project.settings.paths.train}: the training split is the reference; "
            "run `mlops data split`"
        )
    reference = reference_values(load_split(project, "train"), list(frame.columns))
    return ExplainResult(loaded.uri, METHOD, explain_rows(loaded.model, frame, reference, top=top))
