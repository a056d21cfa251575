"""The tracking `Store` of a command, against real stores: it fails fast on a store it cannot
reach, connects once, reads the registry without MLflow only at tested schema revisions (and
falls back to the MLflow client otherwise), and records what each run was trained and tested on.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from cli.helpers import run_mlops
from conftest import git_init, open_project, open_store
from mlops import artifacts, registry
from mlops.promote import PromotionResult, run_promotion
from mlops.registry import lookup
from mlops.registry.lookup import SqliteLookup
from mlops.tracking import store as store_module

from .registry_helpers import keep_mlflow_uris, set_tracking_uri
from .serving import MODEL_NAME

__all__ = ["keep_mlflow_uris"]  # an autouse fixture, used by being imported


def _run_file(project: Path) -> dict[str, Any]:
    return dict(json.loads((project / "models" / "run.json").read_text()))


@pytest.fixture
def promoted(trained_project: Path) -> PromotionResult:
    """The trained project with its run promoted: v1 is the champion."""
    result = run_promotion(open_project(), open_store())
    assert result.record.verdict == "promoted", result.record.message
    assert result.record.candidate.version == "1"
    return result


# --------------------------------------------------------------------------- unreachable stores


@pytest.mark.parametrize(
    "uri",
    ["http://127.0.0.1:9", "http://no-such-host.invalid:5000"],
    ids=["refused", "unresolvable"],
)
def test_an_unreachable_tracking_server_fails_fast(project: Path, uri: str) -> None:
    """Nothing listens on port 9 / the name does not resolve: one error line, not MLflow's
    minutes of retries."""
    set_tracking_uri(project, uri)
    started = time.monotonic()
    done = run_mlops("models", "list", cwd=project)
    elapsed = time.monotonic() - started
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert elapsed < 10, elapsed
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert f"tracking store {uri}" in lines[0]
    assert "Traceback" not in done.stderr
    assert not (project / "mlflow.db").exists()  # nothing created locally instead


# --------------------------------------------------------------------------- schema revisions


def test_the_scoring_lookup_refuses_an_untested_schema_revision(
    promoted: PromotionResult, trained_project: Path, tmp_path: Path
) -> None:
    original = trained_project / "mlflow.db"
    copy = tmp_path / "copy.db"
    with (
        contextlib.closing(sqlite3.connect(original)) as source,
        contextlib.closing(sqlite3.connect(copy)) as target,
    ):
        source.backup(target)  # a consistent copy, WAL included
    found = SqliteLookup(copy).alias(MODEL_NAME, "champion")
    assert found is not None and found.version == "1"  # the copy reads as the original does

    with contextlib.closing(sqlite3.connect(copy)) as conn:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        assert revision in lookup.TESTED_REVISIONS
        conn.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
        conn.commit()
    with pytest.raises(lookup.Unavailable, match="untested MLflow schema revision 'ffffffffffff'"):
        SqliteLookup(copy).alias(MODEL_NAME, "champion")
    with pytest.raises(lookup.Unavailable, match="untested"):
        SqliteLookup(copy).version(MODEL_NAME, "1")
    with pytest.raises(lookup.Unavailable):
        lookup.open_lookup(f"sqlite:///{copy}").alias(MODEL_NAME, "champion")

    # The store itself was not touched.
    found = SqliteLookup(original).alias(MODEL_NAME, "champion")
    assert found is not None and found.version == "1"


def test_an_untested_revision_falls_back_to_the_mlflow_client(
    promoted: PromotionResult, trained_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store()
    run_id = _run_file(trained_project)["run_id"]
    monkeypatch.setattr("mlops.tracking.readonly.TESTED_REVISIONS", frozenset())
    with pytest.raises(lookup.Unavailable, match="untested MLflow schema revision"):
        lookup.open_lookup(store.location).alias(MODEL_NAME, "champion")

    through_client: list[str] = []
    get_alias = registry.get_alias

    def spy(*args: Any, **kwargs: Any) -> Any:
        through_client.append(args[1])
        return get_alias(*args, **kwargs)

    monkeypatch.setattr(registry, "get_alias", spy)
    found = registry.find_alias(store, MODEL_NAME, "champion")
    assert through_client == ["champion"]
    assert found is not None
    assert (found.version, found.run_id, found.aliases) == ("1", run_id, ("champion",))

    loaded = registry.load_model(store)
    assert (loaded.name, loaded.version, loaded.alias) == (MODEL_NAME, "1", "champion")
    assert loaded.run_id == run_id
    assert through_client == ["champion", "champion"]
    assert hasattr(loaded.model, "predict") and loaded.inputs
    assert (loaded.path / "MLmodel").is_file()


# --------------------------------------------------------------------------- one connection


def connections() -> int:
    """How many times this process connected MLflow to a store so far."""
    return int(store_module.CONNECTIONS)


def test_a_store_connects_once(project: Path) -> None:
    before = connections()
    store = open_store()
    assert connections() == before  # constructing one connects nothing
    assert not store.exists()  # and creates nothing

    client = store.client
    experiment_id = store.experiment_id
    for _ in range(3):
        assert store.client is client
        assert store.experiment_id == experiment_id
    store.activate()
    assert store.health()["experiment_id"] == experiment_id
    assert connections() == before + 1
    assert store.exists()

    other = open_store()  # another command's store connects on its own, once
    assert other.experiment_id == experiment_id
    assert other.client is not client
    assert connections() == before + 2


# --------------------------------------------------------------------------- what a run records


def test_the_run_records_its_train_and_test_datasets(trained_project: Path) -> None:
    run = open_store().get_run(_run_file(trained_project)["run_id"])
    processed = trained_project / "data" / "processed"
    expected = {
        "train": (artifacts.file_md5(processed / "train.parquet")[:36], "training"),
        "test": (artifacts.file_md5(processed / "test.parquet")[:36], "testing"),
    }
    found = {}
    for dataset_input in run.inputs.dataset_inputs:
        context = {tag.key: tag.value for tag in dataset_input.tags}.get("mlflow.data.context")
        found[dataset_input.dataset.name] = (dataset_input.dataset.digest, context)
    assert found == expected
    assert expected["train"][0] != expected["test"][0]


def _hyperparameters(run_name: str) -> set[str]:
    """The parts between the estimator and the commit, e.g. {"it100", "lr0.1"}."""
    return set(run_name.split("-")[1:-1])


def test_the_run_name_says_what_ran_and_from_which_commit(trained_project: Path) -> None:
    run = open_store().get_run(_run_file(trained_project)["run_id"])
    outside_git = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=trained_project, capture_output=True, check=False
    )
    assert outside_git.returncode != 0  # the session's template is not a git repository
    assert run.info.run_name.startswith("hgb-")
    assert run.info.run_name.endswith("-nogit")
    assert _hyperparameters(run.info.run_name) == {"it100", "lr0.1"}  # params.yaml's model.params


def test_the_run_name_ends_with_the_short_git_sha(project: Path) -> None:
    git_init(project)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    for command in (("data", "ingest"), ("data", "split"), ("train",)):
        done = run_mlops(*command, cwd=project)
        assert done.returncode == 0, done.stderr
    run = open_store().get_run(_run_file(project)["run_id"])
    assert run.info.run_name.startswith("hgb-")
    assert run.info.run_name.endswith(f"-{head[:7]}")  # a clean tree: no `+`
    assert _hyperparameters(run.info.run_name) == {"it100", "lr0.1"}


def test_logging_the_datasets_prints_no_mlflow_schema_hint(trained_project: Path) -> None:
    """MLflow infers a logged dataset's schema when `log_input` serialises it and warned about
    integer columns there (eight lines on stderr of every `mlops train` and `mlops eval`)."""
    result = run_mlops("eval", "--no-gate", cwd=trained_project)
    assert result.returncode == 0, result.stderr
    assert "Inferred schema contains integer" not in result.stderr
    assert "warnings.warn" not in result.stderr
