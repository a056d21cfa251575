"""Scoring for imbalanced classes: minority precision/recall, the default primary metric, the
single-class gate and the imbalance warning."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

from conftest import open_project
from mlops.evaluate import (
    RARE_CLASS_SHARE,
    assess_model,
    class_shares,
    default_primary,
    imbalance_warning,
    minority_class,
    score_model,
    warn_if_imbalanced,
)


def rare_positives(rows: int = 2000, share: float = 0.03, seed: int = 0) -> pd.DataFrame:
    """A binary target ('No'/'Yes') with `share` positives; `signal` separates them (noisily)."""
    rng = np.random.default_rng(seed)
    positive = rng.random(rows) < share
    return pd.DataFrame(
        {
            "signal": rng.normal(size=rows) + 3.0 * positive,
            "noise": rng.normal(size=rows),
            "default": np.where(positive, "Yes", "No"),
        }
    )


def xy(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return frame[["signal", "noise"]], frame["default"]


# --------------------------------------------------------------------------- class balance


def test_class_shares_are_listed_rarest_first() -> None:
    shares = class_shares(pd.Series(["a"] * 6 + ["b"] * 3 + ["c"] + [None]))
    assert list(shares) == ["c", "b", "a"]
    assert shares["c"] == pytest.approx(0.1) and sum(shares.values()) == pytest.approx(1.0)


def test_minority_class_is_the_rarest_and_a_tie_goes_to_the_positive_class() -> None:
    assert minority_class(pd.Series(["No"] * 9 + ["Yes"])) == "Yes"
    assert minority_class(pd.Series(["paid"] * 9 + ["default"])) == "default"  # not "the second"
    assert minority_class(pd.Series([0, 1, 1, 0])) == 1
    assert minority_class(pd.Series(["b", "a", "b", "a"]), ["b", "a"]) == "a"  # model's order
    assert minority_class(pd.Series(["x", "x"])) is None


@pytest.mark.parametrize(
    ("task", "target", "primary"),
    [
        ("regression", None, "r2"),
        ("regression", pd.Series([1.0, 2.0, 3.0]), "r2"),
        ("classification", None, "roc_auc"),
        ("classification", pd.Series(["No"] * 97 + ["Yes"] * 3), "average_precision"),
        ("classification", pd.Series(["No"] * 90 + ["Yes"] * 10), "roc_auc"),  # 10%: not rare
        ("classification", pd.Series(["a"] * 96 + ["b"] * 2 + ["c"] * 2), "roc_auc"),  # multiclass
    ],
)
def test_default_primary_depends_on_the_class_balance(
    task: str, target: pd.Series | None, primary: str
) -> None:
    assert default_primary(task, target) == primary  # type: ignore[arg-type]


def test_default_primary_keeps_its_one_argument_form() -> None:
    assert default_primary("classification") == "roc_auc"
    assert default_primary("regression") == "r2"


# --------------------------------------------------------------------------- minority metrics


def test_a_majority_predictor_scores_its_share_as_accuracy_and_zero_minority_recall() -> None:
    frame = rare_positives()
    features, target = xy(frame)
    model = DummyClassifier(strategy="most_frequent").fit(features, target)

    scores = assess_model(model, features, target, "classification")

    share = float((target == "No").mean())
    assert scores.metrics["accuracy"] == pytest.approx(share) and share > 0.95
    assert scores.metrics["balanced_accuracy"] == pytest.approx(0.5)
    assert scores.metrics["minority_recall"] == 0.0
    assert scores.metrics["minority_precision"] == 0.0  # nothing predicted: no precision
    assert scores.predicted == ("No",)


def test_minority_metrics_are_those_of_the_rare_class_whatever_its_label() -> None:
    frame = rare_positives(seed=1)
    features, target = xy(frame)
    model = LogisticRegression().fit(features, target)
    predicted = model.predict(features)

    scores = score_model(model, features, target, "classification")

    rare = target == "Yes"
    hits = predicted == "Yes"
    assert scores["minority_recall"] == pytest.approx((rare & hits).sum() / rare.sum())
    assert scores["minority_precision"] == pytest.approx((rare & hits).sum() / hits.sum())
    assert 0 < scores["minority_recall"] < 1
    # the same data with the rare class labelled first alphabetically: the same numbers
    relabelled = target.map({"Yes": "default", "No": "paid"})
    again = score_model(
        LogisticRegression().fit(features, relabelled), features, relabelled, "classification"
    )
    for name in ("minority_precision", "minority_recall", "average_precision", "roc_auc"):
        assert again[name] == pytest.approx(scores[name]), name


def test_binary_average_precision_is_that_of_the_rare_class() -> None:
    from sklearn.metrics import average_precision_score

    frame = rare_positives(seed=2)
    features, target = xy(frame)
    relabelled = target.map({"Yes": "default", "No": "paid"})  # rare class first in classes_
    model = LogisticRegression().fit(features, relabelled)
    proba = model.predict_proba(features)[:, list(model.classes_).index("default")]

    scores = score_model(model, features, relabelled, "classification")

    expected = average_precision_score(relabelled == "default", proba)
    assert scores["average_precision"] == pytest.approx(expected)
    assert scores["average_precision"] < 0.99  # not the majority class's near-1 PR-AUC


def test_regression_has_no_minority_metrics_and_no_predicted_classes() -> None:
    rng = np.random.default_rng(0)
    features = pd.DataFrame({"x": rng.normal(size=50)})
    target = pd.Series(2 * features["x"] + rng.normal(size=50) * 0.1)
    scores = assess_model(LinearRegression().fit(features, target), features, target, "regression")
    assert set(scores.metrics) == {"rmse", "mae", "r2", "mape"}
    assert scores.predicted is None


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_minority_metrics_are_omitted_when_the_target_has_one_class() -> None:
    frame = rare_positives()
    features, target = xy(frame)
    model = LogisticRegression().fit(features, target)
    only_no = target == "No"
    scores = score_model(model, features[only_no], target[only_no], "classification")
    assert "minority_recall" not in scores and "minority_precision" not in scores
    assert "accuracy" in scores


# --------------------------------------------------------------------------- imbalance warning


def test_imbalance_warning_names_the_class_its_share_and_what_to_do(project: Path) -> None:
    target = pd.Series(["No"] * 97 + ["Yes"] * 3)
    plain = open_project(project, "gate.primary=accuracy", "gate.metrics={accuracy: {min: 0.9}}")
    message = imbalance_warning(plain, target)
    assert message is not None
    assert message.startswith("class imbalance: 'Yes' is 3.0% of the training target (under 10%); ")
    assert "`model.class_weight: balanced`" in message
    assert "`gate.primary: average_precision`" in message
    assert "balanced_accuracy or minority_recall" in message

    # what is already set is not suggested again
    tuned = open_project(
        project,
        "model.class_weight=balanced",
        "gate.primary=average_precision",
        "gate.metrics={balanced_accuracy: {min: 0.6}}",
    )
    assert imbalance_warning(tuned, target) == (
        "class imbalance: 'Yes' is 3.0% of the training target (under 10%)"
    )


def test_no_warning_for_balanced_or_single_class_targets(project: Path) -> None:
    config = open_project(project)
    assert RARE_CLASS_SHARE == 0.10
    assert imbalance_warning(config, pd.Series(["No"] * 9 + ["Yes"])) is None  # 10%: not under
    assert imbalance_warning(config, pd.Series(["No"] * 5)) is None


def test_the_warning_is_logged(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mlops.evaluate"):
        warn_if_imbalanced(open_project(project), pd.Series(["a"] * 48 + ["b"] * 48 + ["c"] * 4))
    [record] = caplog.records
    assert record.getMessage().startswith("class imbalance: 'c' is 4.0% of the training target")
    assert "`gate.primary" not in record.getMessage()  # roc_auc (the example's) is a ranking metric
