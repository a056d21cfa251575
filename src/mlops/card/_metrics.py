"""The toolkit's metrics as plain functions of (truth, predicted, proba), and sklearn scorers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mlops.card.bootstrap import MetricFn
from mlops.catalog import LOWER_IS_BETTER
from mlops.config import Task

_KNOWN = frozenset(
    {"accuracy", "balanced_accuracy", "f1_macro", "precision_macro", "recall_macro", "roc_auc",
     "average_precision", "log_loss", "rmse", "mae", "r2", "mape"}
)  # fmt: skip
#: Primary metrics that rank probabilities: undefined within a slice holding one class.
RANKING = frozenset({"roc_auc", "average_precision", "log_loss"})


def lower_is_better(name: str) -> bool:
    return name in LOWER_IS_BETTER


def importance_metric(primary: str, task: Task, n_classes: int) -> str:
    """The metric permutation importance scores with: the primary one where it is defined for
    this model (average precision is binary only), else balanced accuracy or R²."""
    if primary == "average_precision" and n_classes != 2:
        return "balanced_accuracy"
    if primary.startswith("minority") or primary not in _KNOWN:
        return "balanced_accuracy" if task == "classification" else "r2"
    return primary


def scorer(
    name: str, task: Task, classes: Sequence[Any] | None
) -> Callable[[Any, Any, Any], float]:
    """A scorer (estimator, X, y) -> float for sklearn, higher is better (errors negated)."""
    import numpy as np

    fn = metric_fn(name, task, classes)
    sign = -1.0 if lower_is_better(name) else 1.0
    needs_proba = name in RANKING

    def score(estimator: Any, features: Any, truth: Any) -> float:
        proba = np.asarray(estimator.predict_proba(features)) if needs_proba else None
        predicted = None if needs_proba else estimator.predict(features)
        return sign * fn(np.asarray(truth), predicted, proba)

    return score


def slice_metric(primary: str, task: Task) -> str:
    """The metric slices compare: the primary one, unless it needs both classes in a slice
    (ranking metrics), then balanced accuracy; regression slices compare the mean abs error."""
    if task == "regression":
        return primary if primary in ("rmse", "mae", "r2") else "mae"
    return "balanced_accuracy" if primary in RANKING or primary.startswith("minority") else primary


def metric_fn(name: str, task: Task, classes: Sequence[Any] | None = None) -> MetricFn:
    """`name` as a function of (truth, predicted, proba); raises ValueError where undefined."""
    import numpy as np
    from sklearn import metrics as skm

    labels = list(classes) if classes is not None else None

    def roc_auc(y: Any, p: Any, proba: Any) -> float:
        if proba is None or labels is None:
            raise ValueError("needs probabilities")
        if len(labels) == 2:
            return float(skm.roc_auc_score(np.asarray(y) == labels[1], proba[:, 1]))
        return float(skm.roc_auc_score(y, proba, multi_class="ovr", labels=labels))

    def average_precision(y: Any, p: Any, proba: Any) -> float:
        if proba is None or labels is None or len(labels) != 2:
            raise ValueError("needs binary probabilities")
        positive = np.asarray(y) == labels[1]
        if positive.all() or not positive.any():
            raise ValueError("one class")
        return float(skm.average_precision_score(positive, proba[:, 1]))

    def log_loss(y: Any, p: Any, proba: Any) -> float:
        if proba is None:
            raise ValueError("needs probabilities")
        return float(skm.log_loss(y, proba, labels=labels))

    functions: dict[str, MetricFn] = {
        "accuracy": lambda y, p, _: float(skm.accuracy_score(y, p)),
        "balanced_accuracy": lambda y, p, _: float(skm.balanced_accuracy_score(y, p)),
        "f1_macro": lambda y, p, _: float(skm.f1_score(y, p, average="macro", zero_division=0)),
        "precision_macro": lambda y, p, _: float(
            skm.precision_score(y, p, average="macro", zero_division=0)
        ),
        "recall_macro": lambda y, p, _: float(
            skm.recall_score(y, p, average="macro", zero_division=0)
        ),
        "roc_auc": roc_auc,
        "average_precision": average_precision,
        "log_loss": log_loss,
        "rmse": lambda y, p, _: float(np.sqrt(skm.mean_squared_error(y, p))),
        "mae": lambda y, p, _: float(skm.mean_absolute_error(y, p)),
        "r2": lambda y, p, _: float(skm.r2_score(y, p)),
        "mape": lambda y, p, _: float(skm.mean_absolute_percentage_error(y, p)),
    }
    if name not in functions:
        raise ValueError(f"no bootstrap function for metric {name!r}")
    chosen = functions[name]
    if name == "roc_auc" and labels is not None:
        chosen.classes = labels  # type: ignore[attr-defined]  # read by the vectorized bootstrap
    return chosen


def card_metrics(primary: str, task: Task, gated: Sequence[str]) -> list[str]:
    """The metrics the card shows with intervals: primary first, then the gated, then basics."""
    basics = ("accuracy", "balanced_accuracy", "f1_macro") if task == "classification" else (
        "rmse", "mae", "r2"
    )  # fmt: skip
    names: list[str] = []
    for name in (primary, *gated, *basics):
        if name not in names and not name.startswith("minority"):
            names.append(name)
    return names
