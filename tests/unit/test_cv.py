"""k-fold CV (`mlops eval --cv`, `mlops tune`): seeded folds on the given data only, and each
fold's scores exactly those of `score_model` on a fitted clone."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from mlops.evaluate import cross_validate, cv_splits, score_model


def _data(classes: int) -> tuple[pd.DataFrame, pd.Series]:
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=240, n_features=6, n_informative=4, n_classes=classes, random_state=3
    )
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(6)]), pd.Series(y).map(str)


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("name", ["hgb", "forest", "logistic"])
def test_fold_scores_equal_score_model_on_fitted_clones(classes: int, name: str) -> None:
    from sklearn.base import clone
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    estimators: dict[str, Any] = {
        "hgb": HistGradientBoostingClassifier(max_iter=20, random_state=0),
        "forest": RandomForestClassifier(n_estimators=15, random_state=0),
        "logistic": LogisticRegression(max_iter=500),
    }
    model = Pipeline([("scale", StandardScaler()), ("model", estimators[name])])
    features, target = _data(classes)
    found = cross_validate(model, features, target, "classification", folds=3, seed=7)
    expected = []
    for train, test in cv_splits(target, "classification", 3, 7):
        fitted = clone(model).fit(features.iloc[train], target.iloc[train])
        expected.append(
            score_model(fitted, features.iloc[test], target.iloc[test], "classification")
        )
    assert found.per_fold == expected
    assert found.folds == 3 and set(found.mean) == set(expected[0])
    assert found.to_json()["roc_auc"]["std"] == pytest.approx(found.std["roc_auc"])


def test_folds_are_seeded_and_stratified() -> None:
    _, target = _data(2)
    first = cv_splits(target, "classification", 4, 1)
    assert [list(t) for _, t in first] == [
        list(t) for _, t in cv_splits(target, "classification", 4, 1)
    ]
    assert [list(t) for _, t in first] != [
        list(t) for _, t in cv_splits(target, "classification", 4, 2)
    ]
    for _, test in first:
        share = (target.iloc[test] == "1").mean()
        assert abs(share - (target == "1").mean()) < 0.05
