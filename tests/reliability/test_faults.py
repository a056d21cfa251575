"""Fault injection: SIGKILL at named checkpoints, SIGTERM, exceptions inside a run, and
concurrent trains on a fresh embedded store. After each fault, rerunning the same command
succeeds and the store, the registry and the files on disk are consistent."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import open_store
from mlops import registry
from mlops.project import open_project
from mlops.tracking import Store

MLOPS = Path(sys.executable).parent / "mlops"


def env(**extra: str) -> dict[str, str]:
    ignored = ("MLOPS_CONFIG", "MLOPS_DEBUG", "MLOPS_PROJECT")
    base = {k: v for k, v in os.environ.items() if k not in ignored}
    base.update(
        PATH=f"{MLOPS.parent}{os.pathsep}{base.get('PATH', '')}",
        MLFLOW_DISABLE_TELEMETRY="true",
        OMP_NUM_THREADS="1",
    )
    base.update(extra)
    return base


def mlops(*args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    extra = {"MLOPS_FAULT_POINT": fault} if fault else {}
    return subprocess.run(
        [str(MLOPS), *args], env=env(**extra), capture_output=True, text=True, timeout=300
    )


def runs_by_status() -> dict[str, list[str]]:
    store = open_store()
    found: dict[str, list[str]] = {}
    for run in store.client.search_runs([store.experiment_id], max_results=1000):
        found.setdefault(run.info.status, []).append(run.info.run_id)
    return found


def temp_leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*.tmp") if ".dvc" not in p.parts]


@pytest.mark.slow
@pytest.mark.parametrize(
    "point", ["train.after_fit", "train.after_log_model", "train.before_run_file"]
)
def test_kill_during_train_then_rerun(point: str, trained_project: Path) -> None:
    run_file = trained_project / "models" / "run.json"
    before = run_file.read_text()
    killed = mlops("train", fault=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # The previous model and its run record are intact: nothing half-written replaced them.
    if point != "train.before_run_file":
        assert run_file.read_text() == before
    json.loads(run_file.read_text())
    rerun = mlops("train")
    assert rerun.returncode == 0, rerun.stderr
    assert temp_leftovers(trained_project) == []
    statuses = runs_by_status()
    assert "RUNNING" not in statuses, statuses
    if point == "train.after_log_model":  # killed inside its run: the run is now KILLED
        assert len(statuses.get("KILLED", [])) == 1, statuses
    assert mlops("eval").returncode == 0


@pytest.mark.slow
def test_model_and_run_record_out_of_step_are_detected(trained_project: Path) -> None:
    killed = mlops("train", fault="train.before_run_file")
    assert killed.returncode == -signal.SIGKILL
    result = mlops("eval")  # the model is the new run's, run.json still names the old run
    assert result.returncode == 1
    assert "does not match" in result.stderr and "mlops train" in result.stderr
    assert mlops("train").returncode == 0
    assert mlops("eval").returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("point", ["eval.after_metrics", "eval.in_run"])
def test_kill_during_eval_then_rerun(point: str, trained_project: Path) -> None:
    killed = mlops("eval", fault=point)
    assert killed.returncode == -signal.SIGKILL
    rerun = mlops("eval")
    assert rerun.returncode == 0, rerun.stderr
    metrics = json.loads((trained_project / "reports" / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.5
    assert temp_leftovers(trained_project) == []
    statuses = runs_by_status()
    assert "RUNNING" not in statuses, statuses


@pytest.mark.slow
@pytest.mark.parametrize("point", ["promote.after_register", "promote.before_champion_alias"])
def test_kill_during_promote_keeps_a_loading_champion(point: str, trained_project: Path) -> None:
    assert mlops("promote").returncode == 0  # v1 is champion
    assert mlops("--set", "model.params.max_iter=60", "train").returncode == 0
    killed = mlops("promote", fault=point)
    assert killed.returncode == -signal.SIGKILL
    store = open_store()
    champion = registry.get_alias(store, "champion")
    assert champion is not None and champion.version == "1"
    registry.load_model(store, champion.uri)  # loads
    rerun = mlops("promote")
    assert rerun.returncode == 0, rerun.stderr
    champion = registry.get_alias(store, "champion")
    previous = registry.get_alias(store, "previous")
    assert champion is not None and champion.version == "2", "the rerun reuses the version"
    assert previous is not None and previous.version == "1"
    assert len(registry.list_versions(store)) == 2


@pytest.mark.slow
def test_sigterm_ends_the_run_killed(trained_project: Path) -> None:
    process = subprocess.Popen(
        [str(MLOPS), "train"],
        env=env(MLOPS_FAULT_POINT=""),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "RUNNING" not in runs_by_status():
        time.sleep(0.05)
        assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "Traceback" not in stderr
    statuses = runs_by_status()
    assert "RUNNING" not in statuses
    assert len(statuses.get("KILLED", [])) == 1, statuses


def test_exception_inside_a_run_ends_it_failed(trained_project: Path) -> None:
    # A fresh store whose artifact root is a file: logging the model fails inside the run.
    (trained_project / "blocked").write_text("not a directory")
    config_file = trained_project / "configs" / "broken.yaml"
    config_file.write_text(
        "tracking:\n  uri: sqlite:///other.db\n  artifact_root: blocked/artifacts\n"
    )
    result = mlops("--config", str(config_file), "train")
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: cannot log the model"), result.stderr
    assert "Traceback" not in result.stderr
    store = Store.for_project(open_project(config_path=config_file))
    assert store.location.path == trained_project / "other.db"
    statuses = [r.info.status for r in store.client.search_runs([store.experiment_id])]
    assert statuses == ["FAILED"]


@pytest.mark.slow
def test_eight_concurrent_trains_on_a_fresh_store(trained_project: Path) -> None:
    for leftover in ("mlflow.db", "mlartifacts"):
        path = trained_project / leftover
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    for marker in trained_project.glob(".mlflow.db*"):
        marker.unlink()
    processes = [
        subprocess.Popen(
            [str(MLOPS), "-q", "train"],
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    results = [(p.wait(timeout=600), p.communicate()) for p in processes]
    failures = [(code, err) for code, (_, err) in results if code != 0]
    assert failures == []
    run_ids = {out.strip() for _, (out, _) in results}
    assert len(run_ids) == 8
    statuses = runs_by_status()
    assert sorted(statuses.get("FINISHED", [])) == sorted(run_ids)
    assert set(statuses) == {"FINISHED"}


def test_a_failed_model_write_ends_the_run_failed(trained_project: Path) -> None:
    """The model file was written after the MLflow run had ended FINISHED: a full disk or a
    read-only folder there left a FINISHED run beside a command that failed."""
    import shutil

    models = trained_project / "models"
    shutil.rmtree(models)
    models.write_text("a file where the models folder belongs\n")
    before = runs_by_status()
    result = mlops("train")
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and "models" in line and "Traceback" not in result.stderr
    after = runs_by_status()
    assert len(after.get("FAILED", [])) == len(before.get("FAILED", [])) + 1, after
    assert len(after.get("FINISHED", [])) == len(before.get("FINISHED", [])), after
