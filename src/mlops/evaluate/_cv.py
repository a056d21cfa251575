"""k-fold cross-validation on the training split (pure): `mlops eval --cv` and `mlops tune`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops.config import Task
from mlops.errors import DataError, first_line
from mlops.evaluate._scoring import score_model

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: Called after each fold with its index and scores; may raise to stop early (pruning).
FoldCallback = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class CvScores:
    """Each metric's mean and standard deviation over the folds scored."""

    folds: int
    mean: dict[str, float]
    std: dict[str, float]
    per_fold: list[dict[str, float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "folds": self.folds,
            **{name: {"mean": self.mean[name], "std": self.std[name]} for name in self.mean},
        }

    def flat(self) -> dict[str, float]:
        """`cv_<metric>_mean` / `cv_<metric>_std` (MLflow metric names)."""
        values: dict[str, float] = {}
        for name in self.mean:
            values[f"cv_{name}_mean"] = self.mean[name]
            values[f"cv_{name}_std"] = self.std[name]
        return values


def summarise(per_fold: list[dict[str, float]]) -> CvScores:
    """Mean and (population) standard deviation of every metric defined in all folds."""
    import numpy as np

    names = [n for n in per_fold[0] if all(n in fold for fold in per_fold)] if per_fold else []
    mean = {n: float(np.mean([fold[n] for fold in per_fold])) for n in names}
    std = {n: float(np.std([fold[n] for fold in per_fold])) for n in names}
    return CvScores(len(per_fold), mean, std, list(per_fold))


def cv_splits(
    target: pd.Series, task: Task, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded, shuffled folds: stratified for classification when every class has `folds` rows."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if len(target) < folds:
        raise DataError(f"{folds}-fold cross-validation needs at least {folds} training rows")
    stratify = task == "classification" and int(target.value_counts().min()) >= folds
    splitter = (StratifiedKFold if stratify else KFold)(
        n_splits=folds, shuffle=True, random_state=seed
    )
    return list(splitter.split(target.to_frame(), target))


class _Scored:
    """A fitted sklearn `Pipeline` classifier seen through one `predict_proba` pass: its
    predictions are the most probable classes, as `Pipeline.predict` of the catalog's
    classifiers computes them, without a second pass over the fold."""

    def __init__(self, model: Any, features: pd.DataFrame) -> None:
        import numpy as np

        self.classes_ = model.classes_
        self._proba = model.predict_proba(features)
        self._predicted = np.asarray(self.classes_)[np.argmax(self._proba, axis=1)]

    def predict(self, features: pd.DataFrame) -> Any:
        return self._predicted

    def predict_proba(self, features: pd.DataFrame) -> Any:
        return self._proba


def _scorable(model: Any, features: pd.DataFrame, task: Task) -> Any:
    """The fitted model to score: a plain Pipeline classifier predicted once (not a threshold
    wrapper, whose predictions are not the most probable classes)."""
    from sklearn.pipeline import Pipeline

    if task == "classification" and type(model) is Pipeline and hasattr(model, "predict_proba"):
        return _Scored(model, features)
    return model


def cross_validate(
    model: Any,
    features: pd.DataFrame,
    target: pd.Series,
    task: Task,
    *,
    folds: int,
    seed: int,
    on_fold: FoldCallback | None = None,
) -> CvScores:
    """Fit a clone of `model` per fold of the given data and score it on the held-out fold."""
    from sklearn.base import clone

    per_fold: list[dict[str, float]] = []
    for index, (train_rows, test_rows) in enumerate(cv_splits(target, task, folds, seed)):
        fitted = clone(model)
        try:
            fitted.fit(features.iloc[train_rows], target.iloc[train_rows])
        except ValueError as exc:
            raise DataError(f"cross-validation fold {index + 1}: {first_line(exc)}") from exc
        held_out = features.iloc[test_rows]
        scores = score_model(
            _scorable(fitted, held_out, task), held_out, target.iloc[test_rows], task
        )
        per_fold.append({k: v for k, v in scores.items() if math.isfinite(v)})
        if on_fold is not None:
            on_fold(index, per_fold[-1])
    return summarise(per_fold)
