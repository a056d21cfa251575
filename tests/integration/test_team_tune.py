"""`mlops tune --cluster local:2` on the team stack: two Dask worker processes log their trials
concurrently to the MLflow server on PostgreSQL, and the Optuna study lives in PostgreSQL too
(`tune.storage`, its own database: Optuna and MLflow both keep an `alembic_version` table)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from services import MlflowServer, PostgresCluster, S3Server, make_team_project

from .test_tune import SMALL_SPACE, _use_space

MODEL = "penguins-team-tune"
TRIALS = 6


def test_tune_with_two_dask_workers_writes_to_the_server(
    postgres: PostgresCluster,
    team_server: MlflowServer,
    s3_server: S3Server,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    project = make_team_project(
        tmp_path_factory.mktemp("team-tune") / "project", team_server, s3_server, model_name=MODEL
    )
    root = project.root
    storage = postgres.create_database("optuna_team", driver="psycopg2")
    config = root / "configs" / "team.yaml"
    settings = yaml.safe_load(config.read_text())
    settings["tune"] = {"storage": storage}
    config.write_text(yaml.safe_dump(settings))
    _use_space(root, SMALL_SPACE)
    for stage in (("data", "ingest"), ("data", "split")):
        done = project.mlops(*stage)
        assert done.returncode == 0, done.stderr

    done = project.mlops(
        "--set", "tune.cv=3", "tune", "--trials", str(TRIALS), "--cluster", "local:2", "--json"
    )
    assert done.returncode == 0, done.stderr
    assert "secret" not in done.stdout + done.stderr  # the storage password is never shown
    result = json.loads(done.stdout)
    assert result["cluster"] == "local:2"
    counts = result["trials"]
    assert counts["complete"] + counts["pruned"] + counts["failed"] == TRIALS
    assert counts["complete"] >= 1
    assert json.loads((root / "reports" / "tune.json").read_text())["study"] == result["study"]
    assert not (root / "mlflow.db").exists()  # nothing tracked locally
    assert not (root / "optuna.db").exists() and not (root / ".mlops" / "optuna.db").exists()

    import mlflow
    import optuna

    client = mlflow.MlflowClient(tracking_uri=team_server.url)
    parent = client.get_run(result["parent_run_id"])
    assert parent.info.status == "FINISHED"
    experiment = parent.info.experiment_id
    children = client.search_runs(
        [experiment],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
        max_results=100,
    )
    assert len(children) == TRIALS
    assert {child.info.status for child in children} <= {"FINISHED", "FAILED", "KILLED"}
    finished = [child for child in children if child.info.status == "FINISHED"]
    assert finished and all(
        any(key.startswith("cv_") for key in child.data.metrics) for child in finished
    )
    # Both worker processes logged trials, and neither was the driver.
    pids = {child.data.tags.get("mlops.pid") for child in children}
    assert len(pids) >= 2, pids

    study = optuna.load_study(study_name=result["study"], storage=storage)
    assert len(study.trials) == TRIALS
    assert all(trial.state.is_finished() for trial in study.trials)
    best = result["best"]["params"]  # the report rounds floats to 4 significant digits
    assert set(study.best_params) == set(best)
    assert all(study.best_params[k] == pytest.approx(v, rel=1e-3) for k, v in best.items())

    # The study resumes from PostgreSQL: two more trials, same parent run.
    again = project.mlops("--set", "tune.cv=3", "tune", "--trials", str(TRIALS + 2), "--json")
    assert again.returncode == 0, again.stderr
    resumed = json.loads(again.stdout)
    assert resumed["study"] == result["study"]
    assert resumed["parent_run_id"] == result["parent_run_id"]
    assert resumed["trials"]["this_run"] == 2
    assert Path(root / "reports" / "tune.json").exists()
