"""The project root: found upwards from the working directory like git and DVC find theirs,
or named with --project / MLOPS_PROJECT. Every path, the SQLite store and the reports resolve
against it, so a command behaves the same from any folder inside the project, and never
creates a second store beside the working directory."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from cli.helpers import USER_SETTINGS, assert_one_line_error, run_mlops
from mlops.cli.main import app
from mlops.tracking import store as store_module

Invoke = Callable[..., Result]

OUTSIDE = (
    "error: not inside an mlops project (no params.yaml here or above); "
    "run `mlops init` or pass --project"
)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """`mlops <args>` in-process, without the user's MLOPS_* settings."""
    for name in USER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, list(args), prog_name="mlops", env=env)

    return invoke


@pytest.fixture
def champion_project(trained_project: Path, cli: Invoke) -> Path:
    """The trained project with its run promoted: v1 is the champion."""
    promoted = cli("promote")
    assert promoted.exit_code == 0, promoted.output
    return trained_project


def _stores(top: Path) -> set[Path]:
    """Every SQLite file under `top`."""
    return set(top.rglob("*.db"))


def _versions(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    payload: dict[str, Any] = json.loads(result.stdout)  # stdout is only the JSON document
    return {row["version"]: row for row in payload["versions"]}


def _assert_v1_is_champion(result: Result) -> None:
    versions = _versions(result)
    assert set(versions) == {"1"}
    assert versions["1"]["aliases"] == ["champion"]


def test_commands_from_a_subfolder_use_the_root_store(
    champion_project: Path, cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = champion_project
    stores = _stores(tmp_path)
    assert stores == {root / "mlflow.db"}
    notebooks = root / "notebooks"
    notebooks.mkdir()
    monkeypatch.chdir(notebooks)

    _assert_v1_is_champion(cli("models", "list", "--json"))

    metrics = root / "reports" / "metrics.json"
    metrics.unlink()
    before = store_module.CONNECTIONS
    evaluated = cli("eval")
    assert evaluated.exit_code == 0, evaluated.output
    assert evaluated.stdout.splitlines()[-1] == "gate passed"
    connections = store_module.CONNECTIONS - before
    assert connections == 1  # one store per command, connected once
    assert json.loads(metrics.read_text(encoding="utf-8"))["accuracy"] > 0.9

    assert list(notebooks.iterdir()) == []  # no store, reports or artifacts beside the cwd
    assert _stores(tmp_path) == stores


def test_project_option_and_environment_variable_from_elsewhere(
    champion_project: Path, cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = champion_project
    stores = _stores(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    _assert_v1_is_champion(cli("--project", str(root), "models", "list", "--json"))
    _assert_v1_is_champion(cli("models", "list", "--json", env={"MLOPS_PROJECT": str(root)}))

    outside = cli("models", "list")
    assert_one_line_error(outside, "not inside an mlops project")
    assert outside.stderr == OUTSIDE + "\n"

    assert_one_line_error(
        cli("--project", str(elsewhere), "models", "list"),
        rf"^error: {elsewhere}: not an mlops project \(no params\.yaml\)$",
    )
    assert_one_line_error(
        cli("models", "list", env={"MLOPS_PROJECT": str(elsewhere)}),
        r"not an mlops project \(no params\.yaml\)$",
    )
    assert list(elsewhere.iterdir()) == []
    assert _stores(tmp_path) == stores


def test_outside_a_project_the_real_process_says_so_in_one_line(
    champion_project: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run_mlops("models", "list", cwd=elsewhere)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", OUTSIDE + "\n")
    done = run_mlops("--project", str(champion_project), "models", "list", "--json", cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["versions"][0]["aliases"] == ["champion"]
    assert list(elsewhere.iterdir()) == []


def test_data_stages_from_a_subfolder_write_under_the_root(
    project: Path, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebooks = project / "notebooks"
    notebooks.mkdir()
    monkeypatch.chdir(notebooks)

    ingested = cli("data", "ingest")
    assert ingested.exit_code == 0, ingested.output
    assert (project / "data" / "raw" / "dataset.parquet").is_file()
    assert (project / "data" / "schema.json").is_file()

    split = cli("data", "split")
    assert split.exit_code == 0, split.output
    processed = project / "data" / "processed"
    assert (processed / "train.parquet").is_file() and (processed / "test.parquet").is_file()
    assert str(processed / "train.parquet") in split.stdout
    assert list(notebooks.iterdir()) == []


def test_explicit_params_and_config_from_a_subfolder_use_the_root_store(
    champion_project: Path, cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = champion_project
    stores = _stores(tmp_path)
    notebooks = root / "notebooks"
    notebooks.mkdir()
    monkeypatch.chdir(notebooks)
    files = ("--params", "../params.yaml", "--config", "../configs/local.yaml")

    _assert_v1_is_champion(cli(*files, "models", "list", "--json"))
    evaluated = cli(*files, "eval")
    assert evaluated.exit_code == 0, evaluated.output
    assert list(notebooks.iterdir()) == []
    assert _stores(tmp_path) == stores

    # From outside the project, the params file's folder is the root.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    _assert_v1_is_champion(cli("--params", "../project/params.yaml", "models", "list", "--json"))
    assert list(elsewhere.iterdir()) == []
    assert _stores(tmp_path) == stores


def test_train_n_jobs_bounds_threads_and_is_validated(
    trained_project: Path, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops import threads

    # The suite already runs with OMP_NUM_THREADS=1: what is checked is the bound each stage
    # asks for (threadpoolctl applies it).
    seen: list[int | None] = []
    original = threads.limited

    @contextlib.contextmanager
    def spy(n_jobs: int | None) -> Iterator[None]:
        seen.append(n_jobs)
        with original(n_jobs):
            yield

    monkeypatch.setattr(threads, "limited", spy)
    params = trained_project / "params.yaml"
    tree = yaml.safe_load(params.read_text(encoding="utf-8"))
    assert tree["train"] == {"n_jobs": None}  # the example: all cores
    tree["train"]["n_jobs"] = 1
    params.write_text(yaml.safe_dump(tree), encoding="utf-8")

    trained = cli("train")
    assert trained.exit_code == 0, trained.output
    run_id = trained.stdout.strip()
    evaluated = cli("eval")
    assert evaluated.exit_code == 0, evaluated.output
    assert seen == [1, 1]  # the fit (train) and the scoring (eval)

    run_file = trained_project / "models" / "run.json"
    before = run_file.read_text(encoding="utf-8")
    assert json.loads(before)["run_id"] == run_id
    assert_one_line_error(
        cli("--set", "train.n_jobs=0", "train"),
        rf"^error: {params}: train\.n_jobs: .*greater than or equal to 1 \(got 0\)$",
    )
    assert run_file.read_text(encoding="utf-8") == before  # nothing ran


def test_a_moved_project_is_named_and_relocated_not_written_to_the_old_path(
    trained_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `mv project elsewhere`, MLflow's absolute artifact locations still named the old
    folder: `mlops train` recreated it and wrote there. Now the store says so in one line and
    `mlops doctor --relocate` rewrites the locations; runs from before the move still load."""
    import shutil
    import sqlite3

    monkeypatch.delenv("MLOPS_CONFIG", raising=False)
    before = tmp_path / "before"
    shutil.copytree(trained_template, before)
    monkeypatch.chdir(before)
    runner = CliRunner()
    first = runner.invoke(app, ["doctor", "--relocate", "--json"])
    assert first.exit_code == 0, first.output
    old_run = json.loads((before / "models" / "run.json").read_text())["run_id"]

    after = tmp_path / "after"
    before.rename(after)
    monkeypatch.chdir(after)
    refused = runner.invoke(app, ["train"])
    assert refused.exit_code == 1
    line = refused.stderr.strip().splitlines()[-1]
    assert "was the project moved?" in line and "mlops doctor --relocate" in line, line
    assert str(before) in line and not before.exists()

    fixed = runner.invoke(app, ["doctor", "--relocate", "--json"])
    assert fixed.exit_code == 0, fixed.output
    relocation = json.loads(fixed.stdout)["relocation"]
    assert relocation["relocated"] and relocation["to"] == str(after)
    assert relocation["rows"]["runs.artifact_uri"] >= 1
    trained = runner.invoke(app, ["train"])
    assert trained.exit_code == 0, trained.output
    assert not before.exists()
    with sqlite3.connect(after / "mlflow.db") as conn:
        uris = [row[0] for row in conn.execute("SELECT artifact_uri FROM runs")]
        models = conn.execute(
            "SELECT artifact_location FROM logged_models WHERE source_run_id = ?", (old_run,)
        ).fetchall()
    assert uris and all(str(after) in uri for uri in uris), uris
    from mlops.tracking.relocate import file_path

    # The model logged before the move is found where the store now says it is.
    assert models
    for (location,) in models:
        folder = file_path(location)
        assert folder is not None and any(folder.rglob("model.skops")), location
    again = runner.invoke(app, ["doctor", "--relocate", "--json"])
    assert json.loads(again.stdout)["relocation"]["relocated"] is False
