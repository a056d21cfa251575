"""Declarative thresholds -> GateReport (shared by eval, promote and drift)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from mlops.config import Threshold
from mlops.errors import ConfigError


class GateResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    value: float | None
    threshold: str
    passed: bool


class GateReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    results: list[GateResult]

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results)

    @property
    def failures(self) -> list[GateResult]:
        return [result for result in self.results if not result.passed]

    def to_json(self) -> dict[str, object]:
        return {"passed": self.passed, "results": [r.model_dump() for r in self.results]}


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


def evaluate_gates(metrics: Mapping[str, float], thresholds: Mapping[str, Threshold]) -> GateReport:
    """Check every configured threshold; a metric that is not produced is a config error."""
    unknown = sorted(set(thresholds) - set(metrics))
    if unknown:
        raise ConfigError(
            f"gate.metrics: unknown metric {unknown[0]!r} (known: {', '.join(sorted(metrics))})"
        )
    return GateReport(
        results=[check(name, metrics[name], bound) for name, bound in thresholds.items()]
    )
