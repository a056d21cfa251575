"""`mlops tune` on the real tools: Optuna in SQLite beside a real MLflow SQLite store, child runs
per trial, resume, `--apply`, `mlops eval --cv`, and trials on a real Dask LocalCluster (worker
processes), one of them killed mid-study."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cli.helpers import MLOPS, USER_SETTINGS, assert_one_line_error, process_env
from mlops.cli.main import app

#: A small, fast search (penguins, ~270 training rows).
SMALL_SPACE = """\
    hist_gradient_boosting:
      learning_rate: {type: log, low: 0.05, high: 0.3}
      max_iter: {type: int, low: 10, high: 40, step: 10}
      max_leaf_nodes: {type: int, low: 8, high: 16}
"""
#: Trials slow enough (~1 s) to kill a worker in the middle of one.
SLOW_SPACE = """\
    hist_gradient_boosting:
      learning_rate: {type: log, low: 0.05, high: 0.3}
      max_iter: {type: int, low: 250, high: 300, step: 50}
      early_stopping: {type: categorical, choices: [false]}
"""


def _use_space(project: Path, space: str) -> None:
    path = project / "params.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("  space:")) + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("    "))
    path.write_text("".join([*lines[:start], space, *lines[end:]]), encoding="utf-8")


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in USER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), prog_name="mlops")

    return invoke


def _client(project: Path) -> Any:
    import mlflow

    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def _children(project: Path, parent: str) -> list[Any]:
    client = _client(project)
    experiment = client.get_experiment_by_name("mlops").experiment_id
    return list(
        client.search_runs(
            [experiment], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'", max_results=500
        )
    )


def _trial_states(project: Path, study: str) -> list[str]:
    import optuna

    loaded = optuna.load_study(study_name=study, storage=f"sqlite:///{project / 'optuna.db'}")
    return [trial.state.name for trial in loaded.trials]


def test_tune_in_process_logs_children_resumes_and_applies(trained_project: Path, cli: Any) -> None:
    project = trained_project
    _use_space(project, SMALL_SPACE)
    before = (project / "params.yaml").read_text(encoding="utf-8")

    first = cli("--set", "tune.cv=3", "tune", "--trials", "3", "--json")
    assert first.exit_code == 0, first.stderr
    report = json.loads((project / "reports" / "tune.json").read_text(encoding="utf-8"))
    assert json.loads(first.stdout)["study"] == report["study"]
    assert report["metric"] == "roc_auc" and report["direction"] == "maximize"  # gate.primary
    assert report["trials"]["wanted"] == 3 and report["trials"]["this_run"] == 3
    counts = report["trials"]
    assert counts["complete"] + counts["pruned"] + counts["failed"] == 3
    assert counts["complete"] >= 1
    best = report["best"]
    assert set(best["params"]) == {"learning_rate", "max_iter", "max_leaf_nodes"}
    assert 0.5 < best["score"] <= 1.0 and best["std"] >= 0.0
    assert best["params"]["max_iter"] in (10, 20, 30, 40)
    parent = report["parent_run_id"]

    client = _client(project)
    run = client.get_run(parent)
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlops.stage"] == "tune"
    assert run.data.params["tune.metric"] == "roc_auc" and run.data.params["tune.cv"] == "3"
    assert run.data.metrics["best_roc_auc"] == pytest.approx(best["score"])
    assert run.data.metrics["best_roc_auc_std"] == pytest.approx(best["std"])
    artifacts = {a.path for a in client.list_artifacts(parent, "tune")}
    assert {"tune/tune.json", "tune/trials.json", "tune/optimization_history.png"} <= artifacts

    children = _children(project, parent)
    assert len(children) == 3
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlops.trial.state"] in ("COMPLETE", "PRUNED")
        metrics = child.data.metrics
        assert {"cv_roc_auc_mean", "cv_roc_auc_std", "cv_accuracy_mean", "folds"} <= set(metrics)
        assert "duration_s" in metrics
        assert set(child.data.params) == {"learning_rate", "max_iter", "max_leaf_nodes"}
    complete = [c for c in children if c.data.tags["mlops.trial.state"] == "COMPLETE"]
    assert all(c.data.metrics["folds"] == 3 for c in complete)
    assert (project / "optuna.db").is_file()  # the study, beside the tracking store

    # Resume: the same study and parent run; only the missing trials run.
    second = cli("--set", "tune.cv=3", "tune", "--trials", "5", "--apply")
    assert second.exit_code == 0, second.stderr
    again = json.loads((project / "reports" / "tune.json").read_text(encoding="utf-8"))
    assert again["study"] == report["study"] and again["parent_run_id"] == parent
    assert again["trials"]["this_run"] == 2
    assert len(_children(project, parent)) == 5
    assert _trial_states(project, report["study"]).count("RUNNING") == 0

    # --apply: the best values under model.params.hist_gradient_boosting, nothing else moved.
    after = (project / "params.yaml").read_text(encoding="utf-8")
    chosen = again["best"]["params"]
    expected = before.replace(
        "      max_iter: 100\n      learning_rate: 0.1\n",
        f"      max_iter: {chosen['max_iter']}\n      learning_rate: {chosen['learning_rate']}\n"
        f"      max_leaf_nodes: {chosen['max_leaf_nodes']}\n",
    )
    assert after == expected
    from mlops.project import open_project

    applied = open_project(project).params.model.active()
    assert applied == {**chosen}

    # A changed space is another study (and another parent run).
    _use_space(project, SMALL_SPACE.replace("high: 16", "high: 24"))
    third = cli("--set", "tune.cv=3", "tune", "--trials", "1", "--json")
    assert third.exit_code == 0, third.stderr
    assert json.loads(third.stdout)["study"] != report["study"]
    assert json.loads(third.stdout)["parent_run_id"] != parent


def test_eval_cv_estimates_on_the_training_split(trained_project: Path, cli: Any) -> None:
    reports = trained_project / "reports"
    test_metrics = json.loads((reports / "metrics.json").read_text(encoding="utf-8"))
    result = cli("eval", "--cv", "3", "--json")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    written = json.loads((reports / "metrics.json").read_text(encoding="utf-8"))
    cv = written.pop("cv")
    assert written == test_metrics  # the test split scores the same model as before
    assert shown["cv"] == cv and cv["folds"] == 3
    assert 0.5 < cv["roc_auc"]["mean"] <= 1.0 and cv["roc_auc"]["std"] >= 0.0
    record = json.loads((trained_project / "models" / "run.json").read_text(encoding="utf-8"))
    metrics = _client(trained_project).get_run(record["run_id"]).data.metrics
    assert metrics["cv_roc_auc_mean"] == pytest.approx(cv["roc_auc"]["mean"])
    assert "cv_accuracy_std" in metrics
    assert cli("eval", "--cv", "1").exit_code == 2  # usage error: at least 2 folds


def test_unknown_hyperparameter_fails_before_any_work(trained_project: Path, cli: Any) -> None:
    _use_space(trained_project, SMALL_SPACE + "      max_leafs: {type: int, low: 2, high: 9}\n")
    result = cli("tune", "--trials", "1")
    assert_one_line_error(
        result, r"params.yaml: tune.space.hist_gradient_boosting.max_leafs: .*max_leaf_nodes"
    )
    assert not (trained_project / "optuna.db").exists()
    assert not (trained_project / "reports" / "tune.json").exists()


def test_cluster_address_nobody_answers_is_one_line_quickly(
    trained_project: Path, cli: Any
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    start = time.monotonic()
    result = cli("tune", "--cluster", f"tcp://127.0.0.1:{port}")
    assert time.monotonic() - start < 10
    assert_one_line_error(result, rf"cluster tcp://127.0.0.1:{port}: no Dask scheduler")
    assert not (trained_project / "optuna.db").exists()


def _running_trial_pid(database: Path) -> int | None:
    query = """
        SELECT p.value FROM runs r
        JOIN tags p ON p.run_uuid = r.run_uuid AND p.key = 'mlops.pid'
        JOIN tags c ON c.run_uuid = r.run_uuid AND c.key = 'mlflow.parentRunId'
        WHERE r.status = 'RUNNING'
    """
    with (
        contextlib.suppress(sqlite3.Error),
        contextlib.closing(sqlite3.connect(database, timeout=1)) as conn,
    ):
        row = conn.execute(query).fetchone()
        return int(row[0]) if row else None
    return None


@pytest.mark.slow
def test_local_cluster_trials_survive_a_killed_worker(trained_project: Path) -> None:
    """`--cluster local:2`: trials run on two worker processes; SIGKILL one mid-trial and the
    study still finishes, with no child run left RUNNING and Optuna's trials all finished."""
    project = trained_project
    _use_space(project, SLOW_SPACE)
    trials = 6
    command = [str(MLOPS), "--set", "tune.cv=3", "--set", "tune.pruner=none", "tune",
               "--trials", str(trials), "--cluster", "local:2", "--json"]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=project, env=process_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    killed = None
    try:
        deadline = time.monotonic() + 120
        while killed is None and process.poll() is None and time.monotonic() < deadline:
            pid = _running_trial_pid(project / "mlflow.db")
            if pid is not None and pid != process.pid:
                time.sleep(0.3)  # inside the trial's folds
                os.kill(pid, signal.SIGKILL)
                killed = pid
            time.sleep(0.1)
        out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert killed is not None, "no trial was seen running"
    assert process.returncode == 0, err
    result = json.loads(out)
    assert result["cluster"] == "local:2"
    done = result["trials"]
    assert done["complete"] + done["pruned"] + done["failed"] == trials
    assert done["complete"] >= trials - 1

    children = _children(project, result["parent_run_id"])
    statuses = [child.info.status for child in children]
    assert "RUNNING" not in statuses
    assert set(statuses) <= {"FINISHED", "FAILED", "KILLED"}
    lost = [c for c in children if c.info.status in ("KILLED", "FAILED")]
    assert lost, statuses  # the trial on the killed worker
    assert any(c.data.tags.get("mlops.pid") == str(killed) for c in lost)
    assert len({c.data.tags.get("mlops.pid") for c in children}) >= 2  # both workers ran trials
    states = _trial_states(project, result["study"])
    assert len(states) == trials and "RUNNING" not in states
    assert _client(project).get_run(result["parent_run_id"]).info.status == "FINISHED"
