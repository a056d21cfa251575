"""`model.threshold` for binary classifiers: chosen on the training split only, applied everywhere.

On the rare-positive credit file a logistic regression never reaches probability 0.5, so it
predicts "No" for every row; a threshold chosen by cross-validation on the training split makes
it useful without looking at the test split.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import open_project, open_store
from mlops import artifacts
from mlops.errors import ConfigError

from .test_gates_fooled import credit  # noqa: F401  (the fixture)


def _train(*overrides: str) -> str:
    from mlops.train import run_training

    return run_training(open_project(None, *overrides), open_store(None, *overrides)).run_id


def _balanced_accuracy() -> float:
    from mlops.evaluate import run_evaluation

    result = run_evaluation(open_project(), open_store())
    return float(result.metrics["balanced_accuracy"])


def test_auto_threshold_is_chosen_on_training_data_and_used_by_eval_and_predict(
    credit: Path,  # noqa: F811
) -> None:
    _train()
    plain = _balanced_accuracy()
    run_id = _train("model.threshold=auto")
    tuned = _balanced_accuracy()
    assert plain == pytest.approx(0.5), "logistic regression alone predicts one class"
    assert tuned > 0.7, tuned

    model = artifacts.load_model(credit / "models" / "model.skops")
    assert type(model).__name__ == "FixedThresholdClassifier"
    threshold = float(model.threshold)
    assert 0.0 < threshold < 0.5
    run = open_store().get_run(run_id)
    assert run.data.metrics["train_threshold"] == pytest.approx(threshold)
    assert run.data.params["model.threshold"] == "auto"

    # The same threshold decides batch predictions.
    from mlops.predict import predict_file

    test = pd.read_parquet(credit / "data" / "processed" / "test.parquet")
    test.drop(columns=["default"]).to_csv(credit / "batch.csv", index=False)
    predict_file(
        open_store(),
        credit / "batch.csv",
        credit / "scored.csv",
        model_uri=open_store().logged_model_uri(run_id),
    )
    scored = pd.read_csv(credit / "scored.csv")
    expected = (scored["proba_Yes"] >= threshold).map({True: "Yes", False: "No"})
    assert (scored["prediction"] == expected).all()
    assert (scored["prediction"] == "Yes").any()


def test_fixed_threshold_is_applied_as_given(credit: Path) -> None:  # noqa: F811
    _train("model.threshold=0.05")
    model = artifacts.load_model(credit / "models" / "model.skops")
    assert float(model.threshold) == pytest.approx(0.05)
    assert _balanced_accuracy() > 0.5


def test_threshold_is_refused_where_it_means_nothing(project: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.threshold: a decision threshold is for binary"):
        open_project(None, "data.task=regression", "data.source=builtin:diabetes",
                     "data.target=target", "gate.metrics={r2: {min: 0.1}}", "gate.primary=r2",
                     "model.threshold=auto")  # fmt: skip
    with pytest.raises(ConfigError, match=r"model\.threshold"):
        open_project(None, "model.threshold=1.5")
