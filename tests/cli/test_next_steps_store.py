"""`make run`'s last line names the store as the tracking store parsed it (one URI parser)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import open_store
from mlops.cli.pipeline import next_steps
from mlops.project import open_project


def _with_uri(project: Path, uri: str) -> Path:
    local = yaml.safe_load((project / "configs" / "local.yaml").read_text())
    local["tracking"]["uri"] = uri
    path = project / "configs" / "other.yaml"
    path.write_text(yaml.safe_dump(local))
    return path


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("sqlite:///store/mlflow.db?timeout=5", "sqlite:///store/mlflow.db"),
        ("sqlite+pysqlite:///x%20y.db", "sqlite:///x y.db"),
        ("./mlruns", "mlruns"),
        ("sqlite:////elsewhere/m.db", "sqlite:////elsewhere/m.db"),
    ],
)
def test_the_store_is_named_relative_to_the_project(project: Path, uri: str, shown: str) -> None:
    line = next_steps(open_project(project, config_path=_with_uri(project, uri)))
    assert line.startswith(f"next: mlflow ui --backend-store-uri {shown}  |  mlops serve"), line


def test_the_stores_own_location_is_used(project: Path) -> None:
    store = open_store(project)
    line = next_steps(open_project(project), store.location)
    assert line.startswith("next: mlflow ui --backend-store-uri sqlite:///mlflow.db  |")
