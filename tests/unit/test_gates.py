"""Declarative gates: thresholds -> GateReport."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from mlops.config import Threshold
from mlops.errors import ConfigError
from mlops.gates import (
    VARIETY_GATE,
    GateReport,
    GateResult,
    check,
    class_variety,
    describe,
    evaluate_gates,
    model_checks,
    single_class_note,
)


@pytest.mark.parametrize(
    ("value", "threshold", "passed"),
    [
        (0.95, Threshold(min=0.9), True),
        (0.9, Threshold(min=0.9), True),  # bounds are inclusive
        (0.8999, Threshold(min=0.9), False),
        (0.2, Threshold(max=0.3), True),
        (0.3, Threshold(max=0.3), True),
        (0.31, Threshold(max=0.3), False),
        (0.5, Threshold(min=0.4, max=0.6), True),
        (0.7, Threshold(min=0.4, max=0.6), False),
        (0.3, Threshold(min=0.4, max=0.6), False),
        (math.nan, Threshold(min=0.0), False),  # an undefined metric never passes
        (None, Threshold(max=1.0), False),
    ],
)
def test_check(value: float | None, threshold: Threshold, passed: bool) -> None:
    result = check("metric", value, threshold)
    assert result.passed is passed
    assert result.name == "metric"


def test_describe() -> None:
    assert describe(Threshold(min=0.9)) == ">= 0.9"
    assert describe(Threshold(max=0.25)) == "<= 0.25"
    assert describe(Threshold(min=0.1, max=0.2)) == ">= 0.1 and <= 0.2"


def test_threshold_needs_a_bound() -> None:
    with pytest.raises(ValidationError, match="needs `min` or `max`"):
        Threshold()


def test_evaluate_gates_reports_every_threshold_in_order() -> None:
    metrics = {"accuracy": 0.93, "roc_auc": 0.99, "log_loss": 0.4}
    report = evaluate_gates(
        metrics,
        {
            "roc_auc": Threshold(min=0.95),
            "accuracy": Threshold(min=0.95),
            "log_loss": Threshold(max=0.3),
        },
    )
    assert [r.name for r in report.results] == ["roc_auc", "accuracy", "log_loss"]
    assert not report.passed
    assert [r.name for r in report.failures] == ["accuracy", "log_loss"]
    assert report.to_json() == {
        "passed": False,
        "results": [
            {"name": "roc_auc", "value": 0.99, "threshold": ">= 0.95", "passed": True},
            {"name": "accuracy", "value": 0.93, "threshold": ">= 0.95", "passed": False},
            {"name": "log_loss", "value": 0.4, "threshold": "<= 0.3", "passed": False},
        ],
        "notes": [],
    }


def test_all_pass_and_no_gates() -> None:
    assert evaluate_gates({"accuracy": 1.0}, {"accuracy": Threshold(min=0.5)}).passed
    empty = evaluate_gates({"accuracy": 1.0}, {})
    assert empty.passed
    assert empty == GateReport(results=[])


def test_impossible_gate_fails() -> None:
    report = evaluate_gates({"accuracy": 1.0}, {"accuracy": Threshold(min=1.01)})
    assert not report.passed
    assert report.failures[0].threshold == ">= 1.01"


def test_gate_on_a_metric_that_is_not_produced_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        evaluate_gates({"accuracy": 0.9, "f1_macro": 0.9}, {"acuracy": Threshold(min=0.5)})
    assert str(caught.value) == (
        "gate.metrics: unknown metric 'acuracy' (known: accuracy, f1_macro)"
    )


# --------------------------------------------------------------------------- what a model predicts


def test_a_single_predicted_class_fails_and_is_named() -> None:
    result = class_variety(["No"])
    assert result.name == VARIETY_GATE == "predicts more than one class"
    assert result.passed is False
    assert result.value == 1.0
    assert single_class_note(["No"]) == "the model predicts a single class ('No') for every row"


@pytest.mark.parametrize("predicted", [["No", "Yes"], ["Adelie", "Chinstrap", "Gentoo"]])
def test_two_or_more_predicted_classes_pass_without_a_note(predicted: list[str]) -> None:
    result = class_variety(predicted)
    assert result.passed is True and result.value == len(predicted)
    assert single_class_note(predicted) is None


def test_no_prediction_at_all_fails_too() -> None:
    assert class_variety([]).passed is False
    assert single_class_note([]) is None


def test_model_checks_gate_classifiers_only() -> None:
    assert model_checks(None) == ([], [])  # regression: nothing to check
    checks, notes = model_checks(("No",))
    assert [c.name for c in checks] == [VARIETY_GATE] and not checks[0].passed
    assert notes == ["the model predicts a single class ('No') for every row"]
    checks, notes = model_checks(("No", "Yes"))
    assert [c.passed for c in checks] == [True] and notes == []


def test_a_constant_predictor_fails_even_when_every_metric_gate_passes() -> None:
    """The issue's credit-default case: accuracy = the majority's share, ROC AUC still high."""
    metrics = {"accuracy": 0.9665, "roc_auc": 0.94, "balanced_accuracy": 0.5}
    thresholds = {"accuracy": Threshold(min=0.9), "roc_auc": Threshold(min=0.9)}
    assert evaluate_gates(metrics, thresholds).passed  # the metric gates alone are fooled

    checks, notes = model_checks(("No",))
    report = evaluate_gates(metrics, thresholds, checks=checks, notes=notes)

    assert not report.passed
    assert [r.name for r in report.results] == ["accuracy", "roc_auc", VARIETY_GATE]
    assert [r.name for r in report.failures] == [VARIETY_GATE]
    assert report.notes == ["the model predicts a single class ('No') for every row"]
    assert report.to_json()["notes"] == report.notes


def test_extra_checks_follow_the_metric_gates_in_order() -> None:
    extra = GateResult(name="x", value=None, threshold="y", passed=True)
    report = evaluate_gates({"r2": 0.5}, {"r2": Threshold(min=0.1)}, checks=[extra])
    assert [r.name for r in report.results] == ["r2", "x"]
    assert report.passed and report.notes == []
