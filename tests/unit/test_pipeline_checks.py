"""`mlops pipeline run` checks hyperparameters once per distinct model config (a no-op run
skips importing scikit-learn), and never lets a changed, invalid one through."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import open_project
from mlops.errors import ConfigError
from mlops.pipeline import _run as pipeline_run


def test_hyperparameters_are_checked_once_and_again_when_they_change(project: Path) -> None:
    marker = project / ".mlops" / "model-params-checked"
    pipeline_run._check_model_once(open_project(project))
    first = marker.read_text()
    pipeline_run._check_model_once(open_project(project))  # same params: skipped, marker unchanged
    assert marker.read_text() == first
    with pytest.raises(ConfigError, match=r"max_iter"):
        pipeline_run._check_model_once(open_project(project, "model.params.max_iter=-1"))
    assert marker.read_text() == first  # a failed check is not recorded as passed
