"""Per-row explanations for a small batch: occlusion against the training reference (pure).

Method (model-agnostic, honest about what it is): for each row and feature, the feature is
replaced by its training reference value (median of a numeric column, most frequent level of
another) and the row re-scored; the feature's contribution is the score of the row minus the
score with the feature replaced. The score is the probability of the predicted class
(classification) or the predicted value (regression). Contributions do not add up to the
prediction (no interactions are apportioned), unlike SHAP values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

MAX_ROWS = 100
METHOD = "occlusion against the training median/mode"


@dataclass(frozen=True)
class Contribution:
    feature: str
    contribution: float

    def to_json(self) -> dict[str, Any]:
        return {"feature": self.feature, "contribution": self.contribution}


@dataclass(frozen=True)
class RowExplanation:
    row: int
    prediction: Any
    score: float
    top: list[Contribution] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        prediction = self.prediction.item() if hasattr(self.prediction, "item") else self.prediction
        return {
            "row": self.row,
            "prediction": prediction,
            "score": self.score,
            "top": [c.to_json() for c in self.top],
        }


def reference_values(train: pd.DataFrame, columns: list[str]) -> dict[str, Any]:
    """Each column's training reference: the median of a number, else the most frequent value."""
    import pandas as pd

    values: dict[str, Any] = {}
    for name in columns:
        series = train[name].dropna() if name in train.columns else pd.Series(dtype=object)
        if series.empty:
            values[name] = None
        elif pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            median = series.median()
            values[name] = series.dtype.type(median) if series.dtype.kind in "iu" else median
        else:
            values[name] = series.mode().iloc[0]
    return values


def _scores(model: Any, frame: pd.DataFrame, classes: Any, chosen: Any) -> Any:
    """Probability of the class `chosen[i]` for each row i (classification), else the value."""
    import numpy as np

    if classes is None:
        return np.asarray(model.predict(frame), dtype=float)
    proba = np.asarray(model.predict_proba(frame), dtype=float)
    return proba[np.arange(len(frame)), chosen]


def explain_rows(
    model: Any, rows: pd.DataFrame, reference: dict[str, Any], *, top: int = 5
) -> list[RowExplanation]:
    """The `top` largest contributions (by absolute value) for each row, one predict call."""
    import numpy as np
    import pandas as pd

    classes = getattr(model, "classes_", None) if hasattr(model, "predict_proba") else None
    n, columns = len(rows), list(rows.columns)
    if classes is not None:
        base_proba = np.asarray(model.predict_proba(rows), dtype=float)
        chosen = base_proba.argmax(axis=1)
        base = base_proba[np.arange(n), chosen]
        predicted: Any = np.asarray(classes)[chosen]
    else:
        chosen = None
        predicted = np.asarray(model.predict(rows))
        base = predicted.astype(float)
    blocks = []
    for name in columns:
        block = rows.copy()
        block[name] = pd.Series([reference.get(name)] * n, index=rows.index).astype(
            rows[name].dtype, errors="ignore"
        )
        blocks.append(block)
    occluded = pd.concat(blocks, ignore_index=True)
    repeated = None if chosen is None else np.tile(chosen, len(columns))
    scores = _scores(model, occluded, classes, repeated).reshape(len(columns), n)
    deltas = base[None, :] - scores
    explained = []
    for i in range(n):
        order = np.argsort(-np.abs(deltas[:, i]), kind="stable")[:top]
        explained.append(
            RowExplanation(
                row=i,
                prediction=predicted[i],
                score=float(base[i]),
                top=[Contribution(columns[j], float(deltas[j, i])) for j in order],
            )
        )
    return explained
