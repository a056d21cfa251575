"""The promotion policy, as pure functions: compare metrics, check regression and signatures."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from mlops.config import GateParams, Task
from mlops.gates import GateResult

if TYPE_CHECKING:
    import pandas as pd


class MetricComparison(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    candidate: float | None
    champion: float | None
    delta: float | None
    higher_is_better: bool
    better: bool | None


def compare_metrics(
    candidate: Mapping[str, float],
    champion: Mapping[str, float],
    lower_is_better: frozenset[str],
) -> list[MetricComparison]:
    """Every metric side by side; `better` says whether the candidate improves on the champion."""
    rows = []
    for name in sorted(set(candidate) | set(champion)):
        cand, champ = candidate.get(name), champion.get(name)
        higher = name not in lower_is_better
        delta = None if cand is None or champ is None else cand - champ
        better = None if delta is None else (delta > 0 if higher else delta < 0)
        rows.append(
            MetricComparison(
                metric=name,
                candidate=cand,
                champion=champ,
                delta=delta,
                higher_is_better=higher,
                better=better,
            )
        )
    return rows


def primary_metric(
    gate: GateParams, task: Task, target: pd.Series | Callable[[], pd.Series | None] | None
) -> str:
    """The metric promotion compares: `gate.primary`, else the task's default for the test
    split's `target` (`mlops.evaluate.default_primary`: average precision for a rare positive
    class). `target` may be a function: it is then read only when the default needs it."""
    if gate.primary:
        return gate.primary
    from mlops.evaluate import default_primary

    if callable(target):
        target = target() if task != "regression" else None
    return default_primary(task, target)


#: Error metrics in the target's units: a fixed tolerance means nothing across targets.
UNIT_METRICS = frozenset({"rmse", "mae"})


def effective_mode(metric: str, gate: GateParams) -> str:
    """`auto`: relative for error metrics in the target's units, absolute for the rest."""
    if gate.regression_mode != "auto":
        return gate.regression_mode
    return "relative" if metric in UNIT_METRICS else "absolute"


def regression_check(
    primary: str,
    candidate: Mapping[str, float],
    champion: Mapping[str, float],
    gate: GateParams,
    lower_is_better: frozenset[str],
) -> GateResult:
    """Fail when the candidate is worse than the champion on `primary` by more than the tolerance."""
    cand, champ = candidate.get(primary), champion.get(primary)
    mode = effective_mode(primary, gate)
    tolerance = gate.max_regression
    allowed = tolerance if mode == "absolute" else tolerance * abs(champ or 0.0)
    name = f"{primary} vs champion"
    if cand is None or champ is None or math.isnan(cand) or math.isnan(champ):
        return GateResult(name=name, value=cand, threshold="comparable metric", passed=False)
    worse_by = (cand - champ) if primary in lower_is_better else (champ - cand)
    # A relative tolerance is a share of the champion's value: say so, and what it comes to.
    how = (
        f"{tolerance:g} {mode}" if mode == "absolute" else f"{tolerance:g} relative = {allowed:.6g}"
    )
    if primary in lower_is_better:
        threshold = f"<= {champ + allowed:.6g} (champion {champ:.6g} + {how})"
    else:
        threshold = f">= {champ - allowed:.6g} (champion {champ:.6g} - {how})"
    return GateResult(
        name=name, value=cand, threshold=threshold, passed=worse_by <= allowed + 1e-12
    )


def guard_metrics(gate: GateParams, primary: str) -> list[str]:
    """The metrics a candidate may not regress on besides the primary one: `gate.guard`, or
    every gated metric when it is not set."""
    names = gate.guard if gate.guard is not None else list(gate.metrics)
    return [name for name in dict.fromkeys(names) if name != primary]


def unknown_guards(gate: GateParams, known: Iterable[str]) -> list[str]:
    """`gate.guard` entries that name no metric of the task."""
    known = set(known)
    return [name for name in gate.guard or [] if name not in known]


def comparison_checks(
    primary: str,
    candidate: Mapping[str, float],
    champion: Mapping[str, float],
    gate: GateParams,
    lower_is_better: frozenset[str],
) -> list[GateResult]:
    """One "<metric> vs champion" check for the primary metric, then one per guard metric:
    a candidate better on the primary metric but worse on a guard is still rejected."""
    return [
        regression_check(name, candidate, champion, gate, lower_is_better)
        for name in [primary, *guard_metrics(gate, primary)]
    ]


def tolerances(primary: str, gate: GateParams) -> dict[str, Any]:
    """The decision record's tolerance: the setting, and the mode each compared metric used."""
    return {
        "max_regression": gate.max_regression,
        "mode": gate.regression_mode,
        "modes": {
            name: effective_mode(name, gate) for name in [primary, *guard_metrics(gate, primary)]
        },
    }


def signature_changes(
    candidate: Sequence[Mapping[str, Any]], champion: Sequence[Mapping[str, Any]]
) -> list[str]:
    """What changed between two MLflow input signatures (required columns and their types)."""

    def columns(inputs: Sequence[Mapping[str, Any]]) -> dict[str, str]:
        return {
            str(spec.get("name")): str(spec.get("type"))
            for spec in inputs
            if spec.get("required", True)
        }

    cand, champ = columns(candidate), columns(champion)
    changes = [f"new required column {name!r} ({cand[name]})" for name in cand if name not in champ]
    changes += [
        f"column {name!r} ({champ[name]}) no longer accepted" for name in champ if name not in cand
    ]
    changes += [
        f"column {name!r} type {champ[name]} -> {cand[name]}"
        for name in cand
        if name in champ and cand[name] != champ[name]
    ]
    return changes
