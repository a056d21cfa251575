"""Declarative thresholds -> GateReport (shared by eval, promote and drift)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from mlops.config import Threshold
from mlops.errors import ConfigError

#: The gate a constant predictor fails, whatever its accuracy or ranking metrics say.
VARIETY_GATE = "predicts more than one class"


class GateResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    value: float | None
    threshold: str
    passed: bool


class GateReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    results: list[GateResult]
    #: What a reader must know beside the numbers (e.g. the model predicts a single class).
    notes: list[str] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results)

    @property
    def failures(self) -> list[GateResult]:
        return [result for result in self.results if not result.passed]

    def to_json(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "results": [r.model_dump() for r in self.results],
            "notes": list(self.notes),
        }


def describe(threshold: Threshold) -> str:
    parts = []
    if threshold.min is not None:
        parts.append(f">= {threshold.min:g}")
    if threshold.max is not None:
        parts.append(f"<= {threshold.max:g}")
    return " and ".join(parts)


def check(name: str, value: float | None, threshold: Threshold) -> GateResult:
    ok = value is not None and not math.isnan(value)
    if ok and value is not None:
        if threshold.min is not None and value < threshold.min:
            ok = False
        if threshold.max is not None and value > threshold.max:
            ok = False
    return GateResult(name=name, value=value, threshold=describe(threshold), passed=ok)


def class_variety(predicted: Sequence[str]) -> GateResult:
    """Fails when the model predicts fewer than two distinct classes on the test split.

    A majority-class predictor scores the majority's share as accuracy, and its scores may
    still rank well (ROC AUC): only what it predicts gives it away.
    """
    return GateResult(
        name=VARIETY_GATE,
        value=float(len(predicted)),
        threshold=">= 2 distinct predicted classes",
        passed=len(predicted) >= 2,
    )


def single_class_note(predicted: Sequence[str]) -> str | None:
    """The sentence a report shows when every prediction is the same class."""
    if len(predicted) != 1:
        return None
    return f"the model predicts a single class ({predicted[0]!r}) for every row"


def evaluate_gates(
    metrics: Mapping[str, float],
    thresholds: Mapping[str, Threshold],
    *,
    checks: Sequence[GateResult] = (),
    notes: Sequence[str] = (),
) -> GateReport:
    """Check every configured threshold, then the given model checks (e.g. `class_variety`);
    a metric that is not produced is a config error."""
    unknown = sorted(set(thresholds) - set(metrics))
    if unknown:
        raise ConfigError(
            f"gate.metrics: unknown metric {unknown[0]!r} (known: {', '.join(sorted(metrics))})"
        )
    return GateReport(
        results=[
            *(check(name, metrics[name], bound) for name, bound in thresholds.items()),
            *checks,
        ],
        notes=list(notes),
    )


def model_checks(predicted: Sequence[str] | None) -> tuple[list[GateResult], list[str]]:
    """The gates about what a classifier predicts (none for regression: `predicted` is None)."""
    if predicted is None:
        return [], []
    note = single_class_note(predicted)
    return [class_variety(predicted)], [note] if note else []
