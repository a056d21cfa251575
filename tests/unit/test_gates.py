"""Declarative gates: thresholds -> GateReport."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from mlops.config import Threshold
from mlops.errors import ConfigError
from mlops.gates import GateReport, check, describe, evaluate_gates


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
