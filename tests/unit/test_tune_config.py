"""`tune:` in params.yaml is checked at load like everything else: each bad search range, budget
or metric is one problem naming the key; hyperparameter names are checked against sklearn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops import scaffold
from mlops.config import Params, load_params, set_values
from mlops.errors import ConfigError
from mlops.train import check_model_params

HGB = "hist_gradient_boosting"


def _write(tmp_path: Path, tune: dict[str, Any]) -> Path:
    path = tmp_path / "params.yaml"
    tree = {"model": {"estimator": HGB, "params": {HGB: {"max_iter": 50}}}, "tune": tune}
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return path


def _problems(tmp_path: Path, tune: dict[str, Any]) -> list[str]:
    path = _write(tmp_path, tune)
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    return [p.removeprefix(f"{path}: ") for p in caught.value.problems]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"type": "float", "low": 0.5, "high": 0.1}, "low 0.5 >= high 0.1 (an empty range)"),
        ({"type": "int", "low": 3, "high": 3}, "low 3 >= high 3 (an empty range)"),
        ({"type": "log", "low": 0, "high": 1}, "a log range needs low > 0 (got 0)"),
        ({"type": "int", "low": 1}, "a int range needs `low` and `high`"),
        ({"type": "int", "low": 1.5, "high": 4}, "low: an int range needs whole numbers (got 1.5)"),
        ({"type": "categorical", "choices": []}, "categorical needs a non-empty `choices` list"),
        ({"type": "float", "low": 0, "high": 1, "step": 2}, "step: must be > 0 and at most"),
    ],
)
def test_a_bad_range_is_one_problem_naming_its_key(
    tmp_path: Path, spec: dict[str, Any], expected: str
) -> None:
    problems = _problems(tmp_path, {"space": {HGB: {"learning_rate": spec}}})
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"tune.space.{HGB}.learning_rate")
    assert expected in problems[0]


def test_budget_metric_and_sections(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        {
            "trials": 0,
            "cv": 1,
            "metric": "rmse",
            "space": {"ridge": {"alpha": {"type": "log", "low": 0.1, "high": 1}}},
        },
    )
    text = "\n".join(problems)
    assert "tune.trials: Input should be greater than or equal to 1 (got 0)" in text
    assert "tune.cv: Input should be greater than or equal to 2 (got 1)" in text
    assert len(problems) == 2  # types first; the cross-field rules once the types are right
    problems = _problems(
        tmp_path,
        {"metric": "rmse", "space": {"ridge": {"alpha": {"type": "log", "low": 0.1, "high": 1}}}},
    )
    assert problems[0].startswith("tune.space.ridge: not a classification estimator")
    assert problems[1].startswith("tune.metric: 'rmse' is not a classification metric")
    assert _problems(tmp_path, {"space": {HGB: {"learning_rate": {"type": "gauss"}}}})[
        0
    ].startswith(f"tune.space.{HGB}.learning_rate.type: Input should be")
    assert _problems(tmp_path, {"spaces": {}})[0] == "unknown key 'tune.spaces'"


def test_unknown_hyperparameter_and_rejected_ends_are_checked_against_sklearn(
    tmp_path: Path,
) -> None:
    space = {
        "max_leafs": {"type": "int", "low": 2, "high": 9},
        "max_depth": {"type": "int", "low": 0, "high": 5},
        "loss": {"type": "categorical", "choices": ["log_loss", "hinge"]},
    }
    params = load_params(_write(tmp_path, {"space": {HGB: space}}))  # names need sklearn
    problems = check_model_params(params)
    assert problems[0].startswith(
        f"tune.space.{HGB}.max_leafs: {HGB} has no parameter 'max_leafs' (did you mean "
        "'max_leaf_nodes'?"
    )
    assert any(p.startswith(f"tune.space.{HGB}.max_depth: ") and "Got 0" in p for p in problems)
    assert any(p.startswith(f"tune.space.{HGB}.loss: ") and "hinge" in p for p in problems)
    assert len(problems) == 3


@pytest.mark.parametrize("estimator", sorted(scaffold.TUNE_SPACES))
def test_the_spaces_init_writes_are_valid(estimator: str) -> None:
    task = "regression" if estimator == "ridge" else "classification"
    tree = {
        "data": {"task": task, "target": "y", "source": "builtin:diabetes"},
        "model": {"estimator": estimator},
        "gate": {"primary": "r2" if task == "regression" else "roc_auc"},
        "tune": {"space": {estimator: scaffold.TUNE_SPACES[estimator]}},
    }
    assert check_model_params(Params.model_validate(tree)) == []


def test_set_values_keeps_comments_order_and_layout() -> None:
    text = (
        "# head\nmodel:\n  estimator: x   # which\n  params:   # per estimator\n"
        "    x:\n      b: 1\n      a: 0.1\n  threshold: null   # none\n"
        "tune:\n  space: {x: {a: {type: log, low: 0.01, high: 1}}}\n"
    )
    assert set_values(text, ["model", "params", "x"], {"b": 1}, name="p") == text
    changed = set_values(text, ["model", "params", "x"], {"a": 0.0734, "c": 7}, name="p")
    assert changed == text.replace("      a: 0.1\n", "      a: 0.0734\n      c: 7\n")
    with pytest.raises(ConfigError, match=r"p: model.estimator is not a mapping"):
        set_values(text, ["model", "estimator"], {"a": 1}, name="p")
