"""`mlops tune --apply`: the best trial's hyperparameters written into `params.yaml`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops import artifacts
from mlops.config import set_values
from mlops.project import Project


def apply_params(project: Project, values: dict[str, Any]) -> Path:
    """Write `values` under the chosen estimator's `model.params` (its section when the file
    has per-estimator sections), keeping comments and key order; atomic."""
    path = project.config.params_path
    section = project.params.model.params_key().split(".")
    text = path.read_text(encoding="utf-8")
    updated = set_values(text, section, values, name=str(path))
    if updated != text:
        artifacts.write_text(path, updated)
    return path
