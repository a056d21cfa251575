"""The last line of `make run` (`mlops pipeline run`): what to do next, for the store in use."""

from __future__ import annotations

from pathlib import Path

import yaml

from mlops.cli.pipeline import next_steps
from mlops.project import open_project


def test_next_steps_name_the_store_serve_and_commit(project: Path) -> None:
    line = next_steps(open_project(project))
    assert line == (
        "next: mlflow ui --backend-store-uri sqlite:///mlflow.db  |  mlops serve  |  "
        'git add dvc.lock params.yaml && git commit -m "..."'
    )
    local = yaml.safe_load((project / "configs" / "local.yaml").read_text())
    local["tracking"]["uri"] = "https://ci:hunter2secret@mlflow.example.com"
    server = project / "configs" / "server.yaml"
    server.write_text(yaml.safe_dump(local))
    line = next_steps(open_project(project, config_path=server))
    assert line.startswith("next: open https://***@mlflow.example.com (MLflow UI)  |")
    assert "hunter2secret" not in line
