"""Lineage: the tags that tie a run to its code, data and params, and the run's name."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops import __version__
from mlops.config import Config, ModelParams
from mlops.tracking import tags

#: Set by `dvc exp run` for the stages it runs.
DVC_EXP_ENV = "DVC_EXP_NAME"
#: Short names of estimators and hyperparameters in run names (and `mlops runs list`'s table).
SHORT_NAMES = {
    "hist_gradient_boosting": "hgb",
    "random_forest": "rf",
    "extra_trees": "et",
    "logistic_regression": "logreg",
    "learning_rate": "lr",
    "max_iter": "it",
    "max_depth": "depth",
    "n_estimators": "n",
    "max_leaf_nodes": "leaves",
    "min_samples_leaf": "leaf",
}


@dataclass(frozen=True)
class GitState:
    commit: str
    dirty: bool

    @property
    def short(self) -> str:
        return self.commit[:7] if self.commit != "unknown" else "nogit"


def git_state(cwd: Path | None = None) -> GitState:
    """The current commit and whether the work tree has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return GitState(commit="unknown", dirty=True)
    return GitState(commit=commit, dirty=bool(status.strip()))


def dvc_experiment() -> str | None:
    """The DVC experiment this process runs for (`dvc exp run`), if any."""
    return os.environ.get(DVC_EXP_ENV) or None


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return re.sub(r"[^A-Za-z0-9.]+", "", str(value))[:12]


def run_name(model: ModelParams, git: GitState, experiment: str | None = None) -> str:
    """What ran, e.g. `hgb-lr0.05-1a2b3c4`: estimator, the hyperparameters set in params.yaml
    (or the DVC experiment's name), and the short git sha."""
    parts = [SHORT_NAMES.get(model.estimator, model.estimator)]
    if experiment:
        parts.append(experiment)
    else:
        hyperparameters = model.active()
        for key in sorted(hyperparameters)[:4]:
            parts.append(f"{SHORT_NAMES.get(key, key)}{_value(hyperparameters[key])}")
    parts.append(git.short + ("+" if git.dirty and git.commit != "unknown" else ""))
    return "-".join(parts)


def lineage_tags(config: Config, data_hashes: Mapping[str, str], git: GitState) -> dict[str, str]:
    """Tags that tie a run to code, data and params."""
    values = {
        tags.GIT_COMMIT: git.commit,
        tags.GIT_DIRTY: str(git.dirty).lower(),
        tags.PARAMS_SHA256: config.params_hash(),
        tags.VERSION: __version__,
        tags.OVERRIDES: ";".join(config.overrides),
        "mlflow.source.git.commit": git.commit,
    }
    experiment = dvc_experiment()
    if experiment:
        values[tags.DVC_EXPERIMENT] = experiment
    for name, digest in data_hashes.items():
        values[tags.data_md5(name)] = digest
    return values
