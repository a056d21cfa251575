"""Prediction drift: score both datasets with the champion and compare what it predicts."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops.data import Schema
from mlops.drift.source import TableSource

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
