"""Prediction drift: score held-out rows and the batch with the champion, compare its outputs.

The reference predictions are the champion's on its held-out test split, not on the training
data the feature comparison uses: on its training rows a model is over-fitted (sharper
probabilities, fewer errors), so even its own test split would look drifted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops import threads
from mlops.data import Schema
from mlops.drift.columns import compare_column
from mlops.drift.reference import Champion, ReferenceChoice, resolve_holdout
from mlops.drift.report import ColumnDrift
from mlops.drift.source import TableSource, open_table
from mlops.errors import MlopsError
from mlops.project import Project
from mlops.tracking import Store

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

PREDICTION = "prediction"
BATCH_ROWS = 100_000


@dataclass(frozen=True)
class Scores:
    """Model outputs for one dataset, as Arrow columns named like report columns."""

    columns: dict[str, pa.ChunkedArray] = field(default_factory=dict)


def missing_features(schema: Schema, source: TableSource) -> list[str]:
    return [name for name in schema.features if name not in source.types]


def score(model: Any, schema: Schema, source: TableSource) -> Scores:
    """Predictions (and class probabilities) for every row, scored in batches."""
    import pyarrow as pa

    classification = schema.task == "classification"
    proba = classification and hasattr(model, "predict_proba")
    predictions: list[Any] = []
    probabilities: list[Any] = []
    for frame in source.frames(list(schema.features), BATCH_ROWS):
        predictions.append(np.asarray(model.predict(frame)))
        if proba:
            probabilities.append(np.asarray(model.predict_proba(frame), dtype=np.float64))
    labels = np.concatenate(predictions) if predictions else np.zeros(0)
    columns: dict[str, pa.ChunkedArray] = {}
    if classification:
        texts = [str(v) for v in labels.tolist()]
        columns[PREDICTION] = pa.chunked_array([pa.array(texts, type=pa.string())])
    else:
        columns[PREDICTION] = pa.chunked_array([pa.array(labels.astype(np.float64))])
    if proba:
        classes = [str(c) for c in getattr(model, "classes_", [])]
        matrix = np.concatenate(probabilities) if probabilities else np.zeros((0, len(classes)))
        shown = classes[1:] if len(classes) == 2 else classes  # binary: P(positive) says it all
        for name in shown:
            column = matrix[:, classes.index(name)]
            columns[f"{PREDICTION}_proba[{name}]"] = pa.chunked_array([pa.array(column)])
    return Scores(columns)


def compare_predictions(
    project: Project,
    store: Store,
    champion: Champion,
    schema: Schema | None,
    reference: TableSource | None,
    current: TableSource,
    reference_why: str = "",
) -> tuple[list[ColumnDrift], str]:
    """Score both datasets with the champion and compare its outputs (or say why not).

    `reference` is the data whose predictions are the reference (held-out rows: see
    `prediction_reference`); None, with `reference_why`, when there is none.
    """
    if champion.info is None:
        return [], f"prediction drift not tested: {champion.note}"
    if schema is None:
        return [], "prediction drift not tested: no schema contract (features unknown)"
    if reference is None:
        return [], f"prediction drift not tested: {reference_why}"
    for side in (reference, current):
        absent = missing_features(schema, side)
        if absent:
            return [], (
                f"prediction drift not tested: {side.path} lacks feature column(s) "
                f"{', '.join(absent)}"
            )
    from mlops import registry

    try:
        loaded = registry.load_model(
            store, champion.info.uri, allow_unsafe=project.allow_unsafe_model
        )
        with threads.limited(project.params.train.n_jobs):
            ref_scores = score(loaded.model, schema, reference)
            cur_scores = score(loaded.model, schema, current)
    except MlopsError as exc:
        return [], f"prediction drift not tested: {exc}"
    except (ValueError, TypeError, KeyError) as exc:  # the model rejects the data
        return [], f"prediction drift not tested: scoring failed ({exc})"
    results: list[ColumnDrift] = []
    for name, ref_array in ref_scores.columns.items():
        outcome = compare_column(
            name, ref_array, cur_scores.columns.get(name), project.params.drift, "prediction"
        )
        if isinstance(outcome, ColumnDrift):
            results.append(outcome)
    where = f"; reference predictions: {reference_why}" if reference_why else ""
    return results, f"scored with {champion.label} ({champion.info.uri}){where}"


def prediction_reference(
    project: Project,
    store: Store,
    champion: Champion,
    choice: ReferenceChoice,
    reference: TableSource,
) -> tuple[TableSource | None, str]:
    """The data the champion's reference predictions come from, and why.

    A reference given with `--reference` is scored as it is (the user chose it). Otherwise the
    reference is the training data, on which the model is over-fitted: its predictions there
    are sharper than on any new batch, so even the model's own test split would "drift". The
    champion's held-out test split is scored instead.
    """
    if choice.origin == "argument":
        return reference, f"the reference data {project.relative(reference.path.absolute())}"
    if champion.info is None:
        return None, champion.note
    holdout = resolve_holdout(project, store, champion)
    if holdout is None:
        shown = project.relative(project.settings.paths.test)
        return None, (
            f"no held-out test split at {shown} (predictions on the training rows are "
            "over-fitted, so they are no reference); run `mlops data split`"
        )
    return open_table(holdout.path, holdout.suffix), holdout.reason
