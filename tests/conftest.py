"""Shared fixtures: a copy of the example project in a temp dir, and a trained one."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: One native thread per fit and predict in the suite (and the processes it starts): a loaded
#: 2-core CI runner is many times slower with OpenMP's default of one busy thread per core.
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]


def copy_example(destination: Path) -> Path:
    """The example project (penguins) rendered from the packaged templates, as `mlops init`
    writes it: never the working tree's params.yaml or configs/ (a user's edits there must not
    change what the tests run)."""
    from mlops import pipeline, scaffold
    from mlops.project import open_project as open_

    destination.mkdir(parents=True, exist_ok=True)
    files = scaffold.render(scaffold.EXAMPLE, pinned="mlops")
    for name in scaffold.EXAMPLE_FILES:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(files[name], encoding="utf-8")
    pipeline.write(open_(destination))  # dvc.yaml, .mlops.yaml, reports/champion.json
    return destination


def git_init(path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "test@example.com")
    git("config", "user.name", "test")
    git("add", "-A")
    git("commit", "-q", "-m", "example project")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the example project (no data yet); the test runs inside it."""
    path = copy_example(tmp_path / "project")
    monkeypatch.chdir(path)
    monkeypatch.delenv("MLOPS_CONFIG", raising=False)
    return path


def open_project(path: Path | None = None, *overrides: str) -> Any:
    """The project at `path` (default: found from the working directory), as the CLI opens it."""
    from mlops.project import open_project as open_

    return open_(path, overrides=tuple(overrides))


def open_store(path: Path | None = None, *overrides: str) -> Any:
    """The tracking store of the project at `path` (default: the working directory's)."""
    from mlops.tracking import Store

    return Store.for_project(open_project(path, *overrides))


def _run_spine(path: Path) -> None:
    from mlops.data import ingest, split
    from mlops.evaluate import run_evaluation
    from mlops.train import run_training

    project = open_project(path)
    store = open_store(path)
    ingest(project)
    split(project)
    run_training(project, store)
    run_evaluation(project, store)


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project trained and evaluated once per session (read-only: copy it to change it)."""
    path = copy_example(tmp_path_factory.mktemp("template") / "project")
    _run_spine(path)
    return path


@pytest.fixture
def trained_project(
    trained_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A private copy of the trained project (data, model, MLflow store); the test runs inside it.

    The copied store still points at the template's artifact files, which nobody changes.
    """
    path = tmp_path / "project"
    shutil.copytree(trained_template, path)
    monkeypatch.chdir(path)
    monkeypatch.delenv("MLOPS_CONFIG", raising=False)
    yield path


# The team stack (PostgreSQL, an MLflow server on it, an S3 server), started once per session
# by the first test that asks for it: see tests/services.py.
from services import postgres, s3_server, team_server  # noqa: E402

__all__ = ["postgres", "s3_server", "team_server"]
