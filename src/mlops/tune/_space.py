"""The search space: sampling a trial's hyperparameters, and the study's identity."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from mlops.config import SpaceSpec

#: Significant digits a sampled float keeps: the value fitted, logged and applied is the same
#: readable number (`0.0734`, not `0.07341829...`).
FLOAT_DIGITS = 4


def rounded(value: float) -> float:
    """`value` to `FLOAT_DIGITS` significant digits."""
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{FLOAT_DIGITS}g}")


def suggest(trial: Any, space: dict[str, SpaceSpec]) -> dict[str, Any]:
    """Sample one value per hyperparameter from an Optuna trial (ask-and-tell)."""
    values: dict[str, Any] = {}
    for name, spec in space.items():
        if spec.type == "categorical":
            values[name] = trial.suggest_categorical(name, list(spec.choices or []))
            continue
        assert spec.low is not None and spec.high is not None  # checked at config load
        if spec.type == "int":
            step = int(spec.step) if spec.step is not None else 1
            values[name] = int(trial.suggest_int(name, int(spec.low), int(spec.high), step=step))
        elif spec.type == "log":
            values[name] = rounded(trial.suggest_float(name, spec.low, spec.high, log=True))
        else:
            values[name] = rounded(trial.suggest_float(name, spec.low, spec.high, step=spec.step))
    return values


def study_key(parts: dict[str, Any]) -> str:
    """A short stable hash of what makes trials comparable (space, folds, metric, data, ...)."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]
