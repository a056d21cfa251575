"""The cross-field rules of `params.yaml` that need no data and no sklearn."""

from __future__ import annotations

import math

from mlops import catalog
from mlops.catalog import Task
from mlops.config._params import (
    DataParams,
    GateParams,
    ModelParams,
    Params,
    SpaceSpec,
    TuneParams,
)


def _listed(names: list[str] | tuple[str, ...]) -> str:
    return ", ".join(names)


def _check_data(data: DataParams) -> list[str]:
    problems = []
    if data.target in data.drop:
        problems.append(
            f"data.drop: lists the target {data.target!r} (the column the model learns; "
            "remove it from data.drop)"
        )
    if data.features is not None:
        if data.target in data.features:
            problems.append(
                f"data.features: lists the target {data.target!r}; "
                "a model must not see its own label"
            )
        for name in data.features:
            if name in data.drop:
                problems.append(
                    f"data.features: {name!r} is also in data.drop (keep it in one of them)"
                )
    for name in data.ordinal:
        if name in data.drop:
            problems.append(f"data.ordinal.{name}: the column is in data.drop")
    return problems + _check_pii(data)


def _check_pii(data: DataParams) -> list[str]:
    problems = []
    decision = data.pii.get(data.target)
    if decision in ("drop", "hash"):
        problems.append(
            f"data.pii.{data.target}: the target cannot be {decision} (the model learns it); "
            "use keep"
        )
    for name in data.features or []:
        if data.pii.get(name) == "drop":
            problems.append(f"data.features: {name!r} is dropped by data.pii (keep it in one)")
    for name in data.ordinal:
        if data.pii.get(name) in ("drop", "hash"):
            problems.append(f"data.ordinal.{name}: the column is {data.pii[name]} in data.pii")
    repeated = sorted({n for n in data.quasi_identifiers if data.quasi_identifiers.count(n) > 1})
    if repeated:
        problems.append(f"data.quasi_identifiers: listed more than once: {_listed(repeated)}")
    return problems


def _check_model(model: ModelParams, task: Task) -> list[str]:
    problems = []
    known = catalog.estimator_names(task)
    if model.estimator not in known:
        problems.append(
            f"model.estimator: unknown estimator {model.estimator!r} for {task} "
            f"(known: {_listed(known)})"
        )
    sections = model.sections()
    for name, section in sections.items():
        if name not in known:
            problems.append(
                f"model.params.{name}: {name} is not a {task} estimator (known: {_listed(known)})"
            )
        elif section is not None and not isinstance(section, dict):
            problems.append(
                f"model.params.{name}: expected a mapping of hyperparameters (got {section!r})"
            )
    if model.threshold is not None and task != "classification":
        problems.append(
            f"model.threshold: a decision threshold is for binary classification, but data.task "
            f"is {task}"
        )
    if model.class_weight is not None:
        if task != "classification":
            problems.append(
                f"model.class_weight: {model.class_weight} weighs classes, but data.task is "
                f"{task}; set it to null"
            )
        elif "class_weight" in model.active():
            problems.append(
                f"model.class_weight: also set as {model.params_key()}.class_weight; keep one"
            )
    return problems


def _finite(key: str, value: float | None) -> list[str]:
    if value is None or math.isfinite(value):
        return []
    return [f"{key}: must be a finite number (got {value})"]


def _check_gate(gate: GateParams, task: Task) -> list[str]:
    problems = []
    known = catalog.metric_names(task)
    listed = _listed(known)
    for name, bound in gate.metrics.items():
        key = f"gate.metrics.{name}"
        if name not in known:
            problems.append(f"{key}: {name!r} is not a {task} metric (known: {listed})")
        problems += _finite(f"{key}.min", bound.min)
        problems += _finite(f"{key}.max", bound.max)
        low, high = bound.min, bound.max
        if low is not None and high is not None and low > high:
            problems.append(f"{key}: min {low:g} is above max {high:g}; no value can pass")
    if gate.primary is not None and gate.primary not in known:
        problems.append(
            f"gate.primary: {gate.primary!r} is not computed for {task} (known: {listed})"
        )
    for name in gate.guard or []:
        if name not in known:
            problems.append(f"gate.guard: {name!r} is not a {task} metric (known: {listed})")
    problems += _finite("gate.max_regression", gate.max_regression)
    return problems


def _check_card(params: Params) -> list[str]:
    problems = []
    if params.gate.slices is not None and not params.card.sensitive:
        problems.append(
            "gate.slices: gates the slice gaps of card.sensitive columns, but none are listed"
        )
    for name in params.card.sensitive:
        if name == params.data.target:
            problems.append(f"card.sensitive: {name!r} is the target, not a column to slice by")
        elif params.data.pii.get(name) == "drop":
            problems.append(f"card.sensitive: {name!r} is dropped by data.pii")
    return problems


def _check_range(key: str, spec: SpaceSpec) -> list[str]:
    if spec.type == "categorical":
        problems = [
            f"{key}.{name}: only for int, float and log ranges (categorical uses choices)"
            for name in ("low", "high", "step")
            if getattr(spec, name) is not None
        ]
        if not spec.choices:
            problems.append(f"{key}: categorical needs a non-empty `choices` list")
        elif len({repr(choice) for choice in spec.choices}) != len(spec.choices):
            problems.append(f"{key}.choices: lists a value twice")
        return problems
    if spec.choices is not None:
        return [f"{key}.choices: only for type categorical ({spec.type} uses low and high)"]
    if spec.low is None or spec.high is None:
        return [f"{key}: a {spec.type} range needs `low` and `high`"]
    problems = _finite(f"{key}.low", spec.low) + _finite(f"{key}.high", spec.high)
    if problems:
        return problems
    if spec.low >= spec.high:
        return [f"{key}: low {spec.low:g} >= high {spec.high:g} (an empty range)"]
    if spec.type == "int":
        problems += [
            f"{key}.{name}: an int range needs whole numbers (got {value:g})"
            for name, value in (("low", spec.low), ("high", spec.high), ("step", spec.step))
            if value is not None and value != int(value)
        ]
    if spec.type == "log":
        if spec.low <= 0:
            problems.append(f"{key}: a log range needs low > 0 (got {spec.low:g})")
        if spec.step is not None:
            problems.append(f"{key}.step: a log range has no step")
    if spec.step is not None and not (0 < spec.step <= spec.high - spec.low):
        problems.append(
            f"{key}.step: must be > 0 and at most high - low ({spec.high - spec.low:g})"
        )
    return problems


def _check_tune(tune: TuneParams, task: Task) -> list[str]:
    problems = []
    known = catalog.estimator_names(task)
    for estimator, section in tune.space.items():
        if estimator not in known:
            problems.append(
                f"tune.space.{estimator}: not a {task} estimator (known: {_listed(known)}); "
                "the space is keyed by estimator, like model.params"
            )
            continue
        if not section:
            problems.append(f"tune.space.{estimator}: no hyperparameter to search")
        for name, spec in section.items():
            problems += _check_range(f"tune.space.{estimator}.{name}", spec)
    metrics = catalog.metric_names(task)
    if tune.metric is not None and tune.metric not in metrics:
        problems.append(
            f"tune.metric: {tune.metric!r} is not a {task} metric (known: {_listed(metrics)})"
        )
    return problems


def check_params(params: Params) -> list[str]:
    """Every cross-field rule of `params.yaml` that needs no data and no sklearn.

    One line per problem, each starting with the key (`gate.primary: ...`); empty when valid.
    Hyperparameter values are checked by `mlops.train.check_model_params` (it needs sklearn).
    """
    task = params.data.task
    return [
        *_check_data(params.data),
        *_check_model(params.model, task),
        *_check_gate(params.gate, task),
        *_check_card(params),
        *_check_tune(params.tune, task),
    ]
