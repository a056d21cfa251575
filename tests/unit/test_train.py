"""The estimator table, `build_estimator` errors, `fit_pipeline`, and `score_model`."""

from __future__ import annotations

from functools import cache
from typing import Any

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from mlops.catalog import ESTIMATORS as CATALOG
from mlops.config import DataParams, ModelParams, Params, Task
from mlops.data import Schema, infer_schema, read_source
from mlops.errors import ConfigError, MlopsError
from mlops.evaluate import CLASSIFICATION_METRICS, REGRESSION_METRICS, score_model
from mlops.train import (
    ESTIMATORS,
    _rejected_values,
    build_estimator,
    check_model_params,
    fit_pipeline,
    signature_example,
)

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


def test_the_estimator_table_is_the_catalogs() -> None:
    assert {task: list(table) for task, table in ESTIMATORS.items()} == {
        task: list(table) for task, table in CATALOG.items()
    }
    for task, table in CATALOG.items():
        for name, (_, cls) in table.items():
            assert type(ESTIMATORS[task][name]()).__name__ == cls


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
    assert message.startswith(
        "model.params.n_estimator: random_forest has no parameter 'n_estimator' "
        "(did you mean 'n_estimators'? valid: "
    )
    assert "max_depth" in message  # the valid names are listed


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
    assert set(scores) <= set(CLASSIFICATION_METRICS)
    # Every metric of the catalog but the minority class's (computed in evaluate, see its tests).
    assert set(CLASSIFICATION_METRICS) - set(scores) <= {"minority_precision", "minority_recall"}
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


# --------------------------------------------------------------------------- per-estimator params


KEYED: dict[str, Any] = {
    "hist_gradient_boosting": {"max_iter": 20, "learning_rate": 0.2},
    "random_forest": {"n_estimators": 7, "max_depth": 3},
    "logistic_regression": None,  # an empty section: the defaults
}


def test_build_estimator_takes_the_chosen_estimators_section() -> None:
    hgb = build_estimator("classification", ModelParams(params=KEYED), seed=1)
    assert (hgb.max_iter, hgb.learning_rate) == (20, 0.2)
    forest = build_estimator(
        "classification", ModelParams(estimator="random_forest", params=KEYED), seed=1
    )
    assert (forest.n_estimators, forest.max_depth, forest.random_state) == (7, 3, 1)
    logistic = build_estimator(
        "classification", ModelParams(estimator="logistic_regression", params=KEYED), seed=1
    )
    assert logistic.get_params()["C"] == 1.0
    extra = build_estimator("classification", ModelParams(estimator="extra_trees", params=KEYED), 1)
    assert extra.n_estimators == 100  # no section: the estimator's defaults


def test_unknown_hyperparameter_in_a_section_names_its_key() -> None:
    params = ModelParams(estimator="random_forest", params={"random_forest": {"n_estimator": 5}})
    with pytest.raises(ConfigError, match=r"^model\.params\.random_forest\.n_estimator: "):
        build_estimator("classification", params, seed=0)


@pytest.mark.parametrize("name", list(ESTIMATORS["classification"]))
def test_class_weight_reaches_every_classifier(name: str) -> None:
    params = ModelParams(estimator=name, params=SMALL.get(name, {}), class_weight="balanced")
    assert build_estimator("classification", params, seed=0).get_params()["class_weight"] == (
        "balanced"
    )
    unweighted = build_estimator("classification", ModelParams(estimator=name), seed=0)
    assert unweighted.get_params()["class_weight"] is None


def test_class_weight_changes_the_fit_on_imbalanced_classes() -> None:
    schema, frame = _dataset("classification")
    # Chinstrap is the rarest species: keep a handful of them.
    rare = frame[frame["species"] == "Chinstrap"].head(6)
    imbalanced = pd.concat([frame[frame["species"] != "Chinstrap"], rare], ignore_index=True)
    plain = ModelParams(estimator="logistic_regression", params={"C": 0.01})
    weighted = plain.model_copy(update={"class_weight": "balanced"})
    features = imbalanced[schema.features]
    recall = {}
    for label, params in (("plain", plain), ("weighted", weighted)):
        model = fit_pipeline(schema, params, imbalanced, seed=0)
        predicted = model.predict(features[imbalanced["species"] == "Chinstrap"])
        recall[label] = float((predicted == "Chinstrap").mean())
    assert recall["weighted"] > recall["plain"]


# --------------------------------------------------------------------------- checked without a fit


def _params(task: Task = "classification", **model: Any) -> Params:
    target = "species" if task == "classification" else "target"
    return Params(data=DataParams(task=task, target=target), model=ModelParams(**model))


def test_valid_hyperparameters_have_no_problem() -> None:
    assert check_model_params(_params(params={"max_iter": 100, "learning_rate": 0.1})) == []
    assert check_model_params(_params(params=KEYED)) == []
    assert check_model_params(_params(params=KEYED, class_weight="balanced")) == []
    assert check_model_params(_params("regression", estimator="ridge", params={"alpha": 2})) == []


def test_every_rejected_value_and_unknown_name_is_reported_by_key() -> None:
    keyed = {
        "hist_gradient_boosting": {"max_iter": -1, "learning_rate": "fast", "max_iters": 3},
        "random_forest": {"n_estimators": 0},
        "extra_trees": {"n_estimators": 10},
    }
    problems = check_model_params(_params(params=keyed))
    assert [line.split(": ", 1)[0] for line in problems] == [
        "model.params.hist_gradient_boosting.max_iters",
        "model.params.hist_gradient_boosting.max_iter",
        "model.params.hist_gradient_boosting.learning_rate",
        "model.params.random_forest.n_estimators",
    ]
    assert problems[0].startswith(
        "model.params.hist_gradient_boosting.max_iters: hist_gradient_boosting has no "
        "parameter 'max_iters' (did you mean 'max_iter'? valid: categorical_features, "
    )
    assert problems[1] == (
        "model.params.hist_gradient_boosting.max_iter: The 'max_iter' parameter of "
        "HistGradientBoostingClassifier must be an int in the range [1, inf). Got -1 instead."
    )
    assert "Got 'fast' instead" in problems[2]
    assert "RandomForestClassifier must be an int in the range [1, inf). Got 0" in problems[3]


def test_flat_params_are_checked_as_the_chosen_estimators() -> None:
    assert check_model_params(_params(params={"max_iter": 2.5})) == [
        "model.params.max_iter: The 'max_iter' parameter of HistGradientBoostingClassifier "
        "must be an int in the range [1, inf). Got 2.5 instead."
    ]
    regression = _params("regression", estimator="ridge", params={"alpha": -1})
    assert check_model_params(regression) == [
        "model.params.alpha: The 'alpha' parameter of Ridge must be a float in the range "
        "[0.0, inf) or an array-like. Got -1 instead."
    ]


def test_the_estimator_classes_follow_the_task() -> None:
    # The same name is a different class per task: the regressor's loss names differ.
    section = {"hist_gradient_boosting": {"loss": "squared_error"}}
    assert check_model_params(_params("regression", params=section)) == []
    problems = check_model_params(_params("classification", params=section))
    assert len(problems) == 1
    assert problems[0].startswith(
        "model.params.hist_gradient_boosting.loss: The 'loss' parameter of "
        "HistGradientBoostingClassifier must be a str among"
    )


def test_sections_the_check_cannot_use_are_left_to_check_params() -> None:
    # Another task's estimator and a section that is not a mapping: config.check_params says so.
    odd = {"ridge": {"alpha": -1}, "random_forest": 5, "hist_gradient_boosting": {"max_iter": 9}}
    assert check_model_params(_params(params=odd)) == []
    assert check_model_params(_params(estimator="xgboost", params={"depth": 3})) == []


def test_a_misspelt_section_is_suggested() -> None:
    problems = check_model_params(_params(params={"hist_gradient_boostin": {"max_iter": 5}}))
    assert len(problems) == 1
    assert problems[0].startswith(
        "model.params.hist_gradient_boostin: hist_gradient_boosting has no parameter "
        "'hist_gradient_boostin' (did you mean the section 'hist_gradient_boosting'? valid: "
    )


class _Legacy:
    """An estimator of a scikit-learn without `_validate_params` (before 1.2)."""

    def __init__(self, depth: int = 1) -> None:
        self.depth = depth

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"depth": self.depth}

    def set_params(self, **params: Any) -> _Legacy:
        self.depth = params.get("depth", self.depth)
        return self


def test_without_sklearns_validation_values_are_left_to_the_fit() -> None:
    assert _rejected_values(_Legacy, "model.params", {"depth": -5}) == []
