"""The estimator table, `build_estimator` errors, `fit_pipeline`, and `score_model`."""

from __future__ import annotations

from functools import cache
from typing import Any

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from mlops.config import DataParams, ModelParams, Task
from mlops.data import Schema, infer_schema, read_source
from mlops.errors import ConfigError, MlopsError
from mlops.evaluate import CLASSIFICATION_METRICS, REGRESSION_METRICS, score_model
from mlops.train import ESTIMATORS, build_estimator, fit_pipeline, signature_example

#: Small settings so every estimator of the table fits in well under a second.
SMALL: dict[str, dict[str, Any]] = {
    "random_forest": {"n_estimators": 10},
    "extra_trees": {"n_estimators": 10},
    "hist_gradient_boosting": {"max_iter": 10},
    "logistic_regression": {"max_iter": 500},
}


@cache
def _dataset(task: Task) -> tuple[Schema, pd.DataFrame]:
    if task == "classification":
        frame = read_source("builtin:penguins")
        params = DataParams(target="species", task="classification")
    else:
        frame = read_source("builtin:diabetes")
        params = DataParams(target="target", task="regression")
    return infer_schema(frame, params, "builtin"), frame.dropna(subset=[params.target])


def test_each_task_offers_at_least_three_estimators() -> None:
    assert set(ESTIMATORS) == {"classification", "regression"}
    for task, table in ESTIMATORS.items():
        assert len(table) >= 3, task
    assert {"random_forest", "hist_gradient_boosting"} <= set(ESTIMATORS["classification"])
    assert "logistic_regression" in ESTIMATORS["classification"]
    assert "ridge" in ESTIMATORS["regression"]


@pytest.mark.parametrize(
    ("task", "name"), [(task, name) for task, table in ESTIMATORS.items() for name in table]
)
def test_every_estimator_builds_fits_and_scores(task: Task, name: str) -> None:
    schema, frame = _dataset(task)
    params = ModelParams(estimator=name, params=SMALL.get(name, {}))
    estimator = build_estimator(task, params, seed=3)
    if "random_state" in estimator.get_params():
        assert estimator.get_params()["random_state"] == 3
    for key, value in params.params.items():
        assert estimator.get_params()[key] == value

    pipeline = fit_pipeline(schema, params, frame, seed=3)
    assert isinstance(pipeline, Pipeline)
    assert [step for step, _ in pipeline.steps] == ["features", "model"]
    features = frame[schema.features]
    scores = score_model(pipeline, features, frame[schema.target], task)
    expected = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    assert set(scores) <= set(expected)
    if task == "classification":
        assert scores["accuracy"] > 0.8  # penguins are easy: a broken pipeline would not be
    else:
        assert scores["r2"] > 0.2


def test_fit_is_reproducible_with_the_same_seed() -> None:
    schema, frame = _dataset("classification")
    params = ModelParams(estimator="random_forest", params={"n_estimators": 5})
    features = frame[schema.features]
    first = fit_pipeline(schema, params, frame, seed=11).predict_proba(features)
    again = fit_pipeline(schema, params, frame, seed=11).predict_proba(features)
    assert (first == again).all()


def test_an_explicit_random_state_is_kept() -> None:
    params = ModelParams(estimator="random_forest", params={"random_state": 5})
    assert build_estimator("classification", params, seed=42).get_params()["random_state"] == 5


def test_unknown_estimator_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        build_estimator("classification", ModelParams(estimator="xgboost"), seed=0)
    message = str(caught.value)
    assert message.startswith("model.estimator: unknown estimator 'xgboost' for classification")
    for name in ESTIMATORS["classification"]:
        assert name in message


def test_estimator_of_the_other_task_is_unknown() -> None:
    with pytest.raises(ConfigError, match=r"unknown estimator 'ridge' for classification"):
        build_estimator("classification", ModelParams(estimator="ridge"), seed=0)


def test_unknown_hyperparameter_is_named() -> None:
    params = ModelParams(estimator="random_forest", params={"n_estimator": 10})
    with pytest.raises(ConfigError) as caught:
        build_estimator("classification", params, seed=0)
    message = str(caught.value)
    assert message.startswith("model.params: random_forest has no parameter 'n_estimator'")
    assert "n_estimators" in message  # the valid names are listed


def test_invalid_hyperparameter_value_is_an_expected_error() -> None:
    schema, frame = _dataset("classification")
    params = ModelParams(estimator="hist_gradient_boosting", params={"max_iter": "many"})
    with pytest.raises(MlopsError, match=r"max_iter") as caught:
        fit_pipeline(schema, params, frame, seed=0)
    assert "\n" not in str(caught.value)


def test_score_model_binary_classification_metrics() -> None:
    schema, frame = _dataset("classification")
    binary = frame[frame["species"] != "Chinstrap"].reset_index(drop=True)
    model = fit_pipeline(schema, ModelParams(estimator="logistic_regression"), binary, seed=0)
    scores = score_model(model, binary[schema.features], binary["species"], "classification")
    assert set(scores) == set(CLASSIFICATION_METRICS)
    assert scores["roc_auc"] == pytest.approx(1.0, abs=0.01)
    assert 0.0 <= scores["log_loss"] < 0.5


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_score_model_omits_metrics_undefined_on_one_class() -> None:
    schema, frame = _dataset("classification")
    model = fit_pipeline(schema, ModelParams(estimator="logistic_regression"), frame, seed=0)
    one_class = frame[frame["species"] == "Gentoo"]
    scores = score_model(model, one_class[schema.features], one_class["species"], "classification")
    assert "roc_auc" not in scores
    assert "accuracy" in scores


def test_signature_example_keeps_integers_unless_the_contract_allows_missing() -> None:
    frame = pd.DataFrame(
        {
            "year": [2007, 2008, 2009],
            "rooms": pd.array([1, None, 3], dtype="Int64"),
            "size": [1.0, 2.0, 3.0],
            "label": ["a", "b", "a"],
        }
    )
    schema = infer_schema(frame, DataParams(target="label"), "t")
    example = signature_example(frame, schema, rows=2)
    assert list(example.columns) == schema.features
    assert len(example) == 2
    # MLflow refuses int64 input for a double column: only a nullable integer becomes double.
    assert str(example["year"].dtype) == "int64"
    assert str(example["rooms"].dtype) == "float64"
    assert str(example["size"].dtype) == "float64"
