"""Completion's reliance on Typer's private classes (bash words glued back, no failure when a
Typer release moves them), the MLflow workspace filter, and the defaults it shares with config."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import open_project, open_store
from mlops.cli import completion

from .helpers import MLOPS, process_env


@pytest.mark.parametrize(
    ("args", "incomplete", "expected"),
    [
        (["--set", "model.estimator", "="], "ra", (["--set"], "model.estimator=ra", 16)),
        (["--set", "model.estimator"], "=", (["--set"], "model.estimator=", 16)),
        (["serve", "--model", "models", ":"], "/pen", (["serve", "--model"], "models:/pen", 7)),
        (["card"], "", (["card"], "", 0)),
        (["card"], "@ch", (["card"], "@ch", 0)),
    ],
)
def test_bash_words_split_at_breaks_are_glued_back(
    args: list[str], incomplete: str, expected: tuple[list[str], str, int]
) -> None:
    assert completion._glue(args, incomplete) == expected


def test_the_installed_typer_has_the_classes_completion_uses() -> None:
    from typer._click.shell_completion import get_completion_class

    assert completion.use_bash_word_breaks() is True
    bash = get_completion_class("bash")
    assert bash is not None and bash.__module__ == completion.__name__


def test_a_typer_without_those_classes_leaves_typers_bash_completion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import typer._completion_classes as classes
    from typer._click.shell_completion import add_completion_class, get_completion_class

    add_completion_class(classes.BashComplete, "bash")
    monkeypatch.delattr(classes, "BashComplete")
    assert completion.use_bash_word_breaks() is False
    bash = get_completion_class("bash")
    assert bash is not None and bash.__module__ == classes.__name__


@pytest.fixture(scope="module")
def promoted(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained project whose run is registered as v1 with the alias `champion`."""
    from mlops.promote import run_promotion

    path = tmp_path_factory.mktemp("completion-review") / "project"
    shutil.copytree(trained_template, path)
    result = run_promotion(open_project(path), open_store(path))
    assert result.record.accepted, result.record.message
    return path


def _complete(cwd: Path, words: str, **env: str) -> list[str]:
    variables = process_env() | env | {"_MLOPS_COMPLETE": "complete_bash"}
    variables |= {"COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
    done = subprocess.run(
        [str(MLOPS)], cwd=cwd, env=variables, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    return [line for line in done.stdout.splitlines() if line]


def test_other_mlflow_workspaces_are_not_offered(promoted: Path, tmp_path: Path) -> None:
    """Rows of another MLflow workspace (same model and experiment names) stay out, as the
    registry lookup leaves them out; with MLFLOW_WORKSPACE naming it, only its rows show."""
    from mlops.registry.lookup import SqliteLookup

    project = tmp_path / "workspaces"
    shutil.copytree(promoted, project)
    database = project / "mlflow.db"
    name = yaml.safe_load((project / "configs" / "local.yaml").read_text())["registry"][
        "model_name"
    ]
    with contextlib.closing(sqlite3.connect(database)) as conn, conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(registered_model_aliases)")}
        assert "workspace" in columns, "MLflow's schema has workspaces (3.10+)"
        conn.execute(
            "INSERT INTO registered_model_aliases (alias, version, name, workspace) "
            "VALUES ('staging', 1, ?, 'team-b')",
            (name,),
        )
        conn.execute("UPDATE experiments SET workspace = 'team-b'")
    assert SqliteLookup(database).alias(name, "staging") is None
    assert _complete(project, "mlops card ") == ["@champion", "1"]
    assert _complete(project, "mlops promote --run-id ") == [], "its experiment is team-b's"
    team_b = _complete(project, "mlops card ", MLFLOW_WORKSPACE="team-b")
    assert team_b == ["@staging"], "its alias; version 1 is in the default workspace"
    assert len(_complete(project, "mlops promote --run-id ", MLFLOW_WORKSPACE="team-b")) == 1


def test_config_defaults_and_completion_share_one_source() -> None:
    from mlops import defaults
    from mlops.config import RegistrySettings, TrackingSettings
    from mlops.tracking import uri

    assert TrackingSettings().uri == defaults.TRACKING_URI
    assert TrackingSettings().experiment == defaults.EXPERIMENT
    assert RegistrySettings().model_name == defaults.MODEL_NAME
    assert uri.parse_tracking_uri is defaults.parse_tracking_uri


def test_the_defaults_module_imports_no_dependency() -> None:
    code = (
        "import sys; before = set(sys.modules); import mlops.defaults; "
        "print(sorted({m.split('.')[0] for m in set(sys.modules) - before} - {'mlops'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(json.loads(done.stdout.replace("'", '"')))
    assert loaded.isdisjoint({"pydantic", "yaml", "mlflow", "typer", "pandas", "sqlalchemy"})
