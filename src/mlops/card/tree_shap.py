"""SHAP values for tree models (the optional `shap` extra: `pip install 'mlops[shap]'`).

shap's TreeExplainer gives exact per-row contributions for scikit-learn's forests and gradient
boosting. The pipeline's preprocessing runs first; contributions of the columns it makes
(one-hot levels) are summed back onto the input column they came from, so the card reads
in the user's column names. Nothing here runs unless shap is installed and the estimator is a
tree ensemble: the card then says why there are no SHAP values.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

#: Estimators shap's TreeExplainer reads exactly (scikit-learn class names).
TREE_MODELS = (
    "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
)
INSTALL_HINT = "pip install 'mlops[shap]'"


@dataclass(frozen=True)
class ShapSummary:
    """Mean |SHAP value| per input column over the explained rows (most important first);
    `reason` says why there are none."""

    features: list[tuple[str, float]] = field(default_factory=list)
    rows: int = 0
    seconds: float = 0.0
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "features": [{"feature": f, "mean_abs_shap": v} for f, v in self.features],
            "rows": self.rows,
            "seconds": self.seconds,
            "reason": self.reason,
        }


def installed() -> bool:
    return importlib.util.find_spec("shap") is not None


def _unwrap(model: Any) -> tuple[Any, Any]:
    """(preprocessor or None, final estimator), through a threshold wrapper and a Pipeline."""
    inner = model
    while not hasattr(inner, "steps") and hasattr(inner, "estimator_"):
        inner = inner.estimator_
    steps = getattr(inner, "steps", None)
    if not steps:
        return None, inner
    if len(steps) == 1:
        return None, steps[0][1]
    from sklearn.pipeline import Pipeline

    return Pipeline(steps[:-1]), steps[-1][1]


def _origins(preprocessor: Any, inputs: list[str], width: int) -> list[str]:
    """The input column each transformed column comes from (one-hot levels -> their column)."""
    if preprocessor is None:
        return list(inputs) if len(inputs) == width else [f"x{i}" for i in range(width)]
    transformer = preprocessor.steps[-1][1] if hasattr(preprocessor, "steps") else preprocessor
    origins: list[str] = []
    for _name, fitted, columns in getattr(transformer, "transformers_", []):
        if fitted == "drop" or not len(columns):
            continue
        last = fitted.steps[-1][1] if hasattr(fitted, "steps") else fitted
        categories = getattr(last, "categories_", None)
        if categories is not None and type(last).__name__ == "OneHotEncoder":
            for column, levels in zip(columns, categories, strict=True):
                origins.extend([str(column)] * len(levels))
        else:
            origins.extend(str(c) for c in columns)
    if len(origins) != width:  # an unexpected layout: name the transformed columns instead
        names = getattr(transformer, "get_feature_names_out", None)
        return [str(n) for n in names()] if names else [f"x{i}" for i in range(width)]
    return origins


def _grouped_mean_abs(values: Any, origins: list[str]) -> dict[str, float]:
    """Mean |SHAP| per input column: a column's transformed parts (one-hot levels) are summed
    row by row first (SHAP values add up), then the absolute value is averaged over rows, and
    over classes when there are several."""
    import numpy as np

    array = np.stack(values, axis=-1) if isinstance(values, list) else np.asarray(values)
    totals = {}
    for origin in dict.fromkeys(origins):
        picked = [i for i, name in enumerate(origins) if name == origin]
        totals[origin] = float(np.abs(array[:, picked].sum(axis=1)).mean())
    return totals


def shap_summary(model: Any, features: pd.DataFrame, *, max_rows: int, seed: int) -> ShapSummary:
    """Mean |SHAP value| per input column of a tree model on at most `max_rows` test rows."""
    if not installed():
        return ShapSummary(reason=f"shap is not installed ({INSTALL_HINT})")
    preprocessor, estimator = _unwrap(model)
    kind = type(estimator).__name__
    if kind not in TREE_MODELS:
        return ShapSummary(reason=f"{kind} is not a tree model (SHAP here is TreeExplainer only)")
    import numpy as np
    import shap

    started = time.perf_counter()
    rows = features if len(features) <= max_rows else features.sample(max_rows, random_state=seed)
    transformed: Any = preprocessor.transform(rows) if preprocessor is not None else rows
    if hasattr(transformed, "toarray"):  # a sparse matrix
        transformed = transformed.toarray()
    matrix = np.asarray(transformed, dtype=float)
    try:
        values = shap.TreeExplainer(estimator).shap_values(matrix, check_additivity=False)
    except Exception as exc:  # shap raises bare Exceptions for models it cannot read
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return ShapSummary(reason=f"shap could not explain {kind}: {first}")
    width = matrix.shape[1]
    totals = _grouped_mean_abs(values, _origins(preprocessor, list(features.columns), width))
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return ShapSummary(ranked, len(rows), time.perf_counter() - started)
