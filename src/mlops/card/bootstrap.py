"""95% bootstrap confidence intervals of test metrics: resample test rows, seeded (pure)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

#: A metric of (truth, predicted labels or values, class probabilities or None).
MetricFn = Callable[[Any, Any, Any], float]


@dataclass(frozen=True)
class Interval:
    """A metric on the whole test split and its percentile bootstrap interval."""

    metric: str
    value: float
    low: float
    high: float
    resamples: int

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "resamples": self.resamples,
        }


def resample_indices(rows: int, resamples: int, seed: int) -> np.ndarray:
    """`resamples` x `rows` row indices drawn with replacement (one matrix: vectorized)."""
    import numpy as np

    return np.random.default_rng(seed).integers(0, rows, size=(resamples, rows))


def _safe(fn: MetricFn, truth: Any, predicted: Any, proba: Any) -> float:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(fn(truth, predicted, proba))
    except ValueError:  # undefined on this resample (e.g. one class drawn)
        return math.nan


def bootstrap_ci(
    name: str,
    fn: MetricFn,
    truth: Any,
    predicted: Any,
    proba: Any = None,
    *,
    resamples: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """The metric on all rows, and the central `level` percentile interval over resamples."""
    import numpy as np

    truth, predicted = np.asarray(truth), np.asarray(predicted)
    value = _safe(fn, truth, predicted, proba)
    indices = resample_indices(len(truth), resamples, seed)
    vectorized = _vectorized(name, truth, predicted, indices)
    if vectorized is None and name == "roc_auc" and proba is not None:
        vectorized = _roc_auc(truth, proba, indices, fn)
    if vectorized is not None:
        values = vectorized
    else:
        values = np.array(
            [
                _safe(fn, truth[i], predicted[i], None if proba is None else proba[i])
                for i in indices
            ]
        )
    finite = values[np.isfinite(values)]
    if not len(finite):
        return Interval(name, value, math.nan, math.nan, 0)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(name, value, float(low), float(high), len(finite))


def _vectorized(name: str, truth: Any, predicted: Any, indices: Any) -> np.ndarray | None:
    """Metrics that are means of per-row values: all resamples in one numpy expression."""
    import numpy as np

    if name == "accuracy":
        return np.asarray((truth == predicted)[indices].mean(axis=1), dtype=float)
    if name in _BY_CLASS:
        return _by_class(name, truth, predicted, indices)
    if name in ("rmse", "mae", "r2") and truth.dtype.kind in "fiu":
        err = (truth.astype(float) - predicted.astype(float))[indices]
        if name == "mae":
            return np.asarray(np.abs(err).mean(axis=1))
        mse = (err**2).mean(axis=1)
        if name == "rmse":
            return np.asarray(np.sqrt(mse))
        sampled = truth.astype(float)[indices]
        var = sampled.var(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.where(var > 0, 1.0 - mse / var, np.nan))
    return None


_BY_CLASS = ("balanced_accuracy", "f1_macro", "precision_macro", "recall_macro")


def _by_class(name: str, truth: Any, predicted: Any, indices: Any) -> np.ndarray:
    """Macro metrics from per-class counts of every resample at once (as sklearn defines them:
    averaged over the labels present in the resample; zero where a ratio is undefined)."""
    import numpy as np
    import pandas as pd

    codes, _ = pd.factorize(np.concatenate([truth, predicted]))
    t, p = codes[: len(truth)][indices], codes[len(truth) :][indices]
    resamples, k = indices.shape[0], int(codes.max()) + 1
    offset = (np.arange(resamples) * k)[:, None]

    def per_class(values: Any, weights: Any = None) -> Any:
        counts = np.bincount(
            (values + offset).ravel(),
            weights=None if weights is None else weights.ravel(),
            minlength=resamples * k,
        )
        return counts.reshape(resamples, k).astype(float)

    support, guessed, hits = per_class(t), per_class(p), per_class(t, t == p)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, hits / support, 0.0)
        if name == "balanced_accuracy":
            present = support > 0
            return np.asarray((recall * present).sum(axis=1) / present.sum(axis=1))
        precision = np.where(guessed > 0, hits / guessed, 0.0)
        f1 = np.where(support + guessed > 0, 2 * hits / (support + guessed), 0.0)
    labels = (support + guessed) > 0
    chosen = {"f1_macro": f1, "precision_macro": precision, "recall_macro": recall}[name]
    return np.asarray((chosen * labels).sum(axis=1) / labels.sum(axis=1))


def _roc_auc(truth: Any, proba: Any, indices: Any, fn: MetricFn) -> np.ndarray | None:
    """One-vs-rest ROC AUC (macro over classes) of every resample from ranks (Mann-Whitney U);
    None when the class columns cannot be matched to the labels (then per-resample sklearn)."""
    import numpy as np
    from scipy.stats import rankdata

    classes = getattr(fn, "classes", None)
    if classes is None or proba.shape[1] != len(classes):
        return None
    columns = [1] if len(classes) == 2 else list(range(len(classes)))
    aucs = []
    for c in columns:
        positive = (truth == classes[c])[indices]
        ranks = rankdata(proba[:, c][indices], axis=1)
        n_pos = positive.sum(axis=1)
        n_neg = positive.shape[1] - n_pos
        with np.errstate(divide="ignore", invalid="ignore"):
            u = (ranks * positive).sum(axis=1) - n_pos * (n_pos + 1) / 2
            aucs.append(np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan))
    stacked = np.vstack(aucs)
    # A resample missing a class is undefined for sklearn's multi-class AUC as well.
    return np.asarray(np.where(np.isnan(stacked).any(axis=0), np.nan, stacked.mean(axis=0)))
