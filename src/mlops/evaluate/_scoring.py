"""Scoring (pure): every metric of the task, and which metric promotion compares by default."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops.config import Task

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: The package's name, not this module's: log lines read `mlops.evaluate: ...` as before the split.
log = logging.getLogger("mlops.evaluate")


#: A class under this share of the training target is rare: accuracy rewards ignoring it.
RARE_CLASS_SHARE = 0.10


def class_shares(target: pd.Series) -> dict[Any, float]:
    """Each class's share of the (non-missing) target, rarest first."""
    shares = target.dropna().value_counts(normalize=True, sort=False)
    return {label: float(share) for label, share in sorted(shares.items(), key=lambda x: x[1])}


def minority_class(target: pd.Series, classes: list[Any] | None = None) -> Any | None:
    """The rarest class of `target` (a tie goes to the later class: the positive one when
    binary); None with fewer than two classes present."""
    counts = target.dropna().value_counts(sort=False)
    if len(counts) < 2:
        return None
    fewest = counts.min()
    rarest = [label for label, count in counts.items() if count == fewest]
    order = classes if classes is not None else sorted(counts.index, key=str)
    ranked = [label for label in order if label in rarest]
    return ranked[-1] if ranked else rarest[0]


def default_primary(task: Task, target: pd.Series | None = None) -> str:
    """The metric promotion compares when `gate.primary` is not set.

    Binary with a class under `RARE_CLASS_SHARE` of `target`: average precision (PR-AUC of the
    rare class); other classification: ROC AUC; regression: R² (unit-free).
    """
    if task == "regression":
        return "r2"
    if target is not None:
        shares = class_shares(target)
        if len(shares) == 2 and min(shares.values()) < RARE_CLASS_SHARE:
            return "average_precision"
    return "roc_auc"


@dataclass(frozen=True)
class Scores:
    """Every metric of the task, and (classification) the distinct classes the model predicted."""

    metrics: dict[str, float]
    #: Sorted labels (as text) of the classes predicted at least once; None for regression.
    predicted: tuple[str, ...] | None = None


def score_model(
    model: Any, features: pd.DataFrame, target: pd.Series, task: Task
) -> dict[str, float]:
    """Every metric of the task; metrics undefined on this data (one class present) are omitted."""
    return assess_model(model, features, target, task).metrics


def assess_model(model: Any, features: pd.DataFrame, target: pd.Series, task: Task) -> Scores:
    """`score_model`, plus which classes the model predicted (one prediction pass)."""
    import numpy as np
    from sklearn import metrics as skm

    predicted = model.predict(features)
    if task == "regression":
        truth = np.asarray(target, dtype=float)
        scores = {
            "rmse": float(np.sqrt(skm.mean_squared_error(truth, predicted))),
            "mae": float(skm.mean_absolute_error(truth, predicted)),
            "r2": float(skm.r2_score(truth, predicted)) if len(truth) > 1 else math.nan,
            "mape": float(skm.mean_absolute_percentage_error(truth, predicted)),
        }
        return Scores(_finite(scores))
    classes = list(getattr(model, "classes_", sorted(set(target) | set(predicted), key=str)))
    scores = {
        "accuracy": float(skm.accuracy_score(target, predicted)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(target, predicted)),
        "precision_macro": float(
            skm.precision_score(target, predicted, average="macro", zero_division=0)
        ),
        "recall_macro": float(
            skm.recall_score(target, predicted, average="macro", zero_division=0)
        ),
        "f1_macro": float(skm.f1_score(target, predicted, average="macro", zero_division=0)),
        **_minority_scores(target, predicted, classes),
    }
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(features)
        scores["log_loss"] = float(skm.log_loss(target, proba, labels=classes))
        scores["roc_auc"] = _roc_auc(target, proba, classes)
        scores["average_precision"] = _average_precision(target, proba, classes)
    distinct = tuple(sorted({str(label) for label in np.asarray(predicted).tolist()}))
    return Scores(_finite(scores), distinct)


def _minority_scores(target: pd.Series, predicted: Any, classes: list[Any]) -> dict[str, float]:
    """Precision and recall of the rarest class of the target (undefined with one class)."""
    import numpy as np
    from sklearn.metrics import precision_score, recall_score

    rare = minority_class(target, classes)
    if rare is None:
        return {"minority_precision": math.nan, "minority_recall": math.nan}
    truth = np.asarray(target) == rare
    hits = np.asarray(predicted) == rare
    return {
        "minority_precision": float(precision_score(truth, hits, zero_division=0)),
        "minority_recall": float(recall_score(truth, hits, zero_division=0)),
    }


def _average_precision(target: pd.Series, proba: np.ndarray, classes: list[Any]) -> float:
    """PR-AUC: of the rarer class when binary (ties: the second), macro one-vs-rest otherwise."""
    import numpy as np
    from sklearn.metrics import average_precision_score

    truth = np.asarray(target)
    if len(classes) == 2:
        rare = minority_class(target, classes)
        index = classes.index(rare) if rare in classes else 1
        positive = truth == classes[index]
        if positive.all() or not positive.any():
            return math.nan
        return float(average_precision_score(positive, proba[:, index]))
    present = [i for i, label in enumerate(classes) if (truth == label).any()]
    if len(present) < 2:
        return math.nan
    values = [average_precision_score(truth == classes[i], proba[:, i]) for i in present]
    return float(np.mean(values))


def _roc_auc(target: pd.Series, proba: np.ndarray, classes: list[Any]) -> float:
    from sklearn.metrics import roc_auc_score

    if target.nunique() < 2:
        return math.nan
    try:
        if len(classes) == 2:
            return float(roc_auc_score(target, proba[:, 1]))
        return float(roc_auc_score(target, proba, multi_class="ovr", labels=classes))
    except ValueError:  # a class of the model is absent from this data
        return math.nan


def _finite(scores: dict[str, float]) -> dict[str, float]:
    undefined = [name for name, value in scores.items() if not math.isfinite(value)]
    if undefined:
        log.warning("metric(s) undefined on this data, omitted: %s", ", ".join(undefined))
    return {name: value for name, value in scores.items() if math.isfinite(value)}
