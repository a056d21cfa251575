"""The real pipeline: `dvc repro` in a temp git repo, MLflow lineage, reruns of exactly what changed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import copy_example, git_init, open_project
from mlops import __version__

STAGES = ["ingest", "validate", "split", "train", "evaluate"]
#: The environment's tools: `dvc` and the `mlops` console script it calls.
BIN = Path(sys.executable).parent
#: The example's hyperparameters, as MLflow names them (params.yaml keys them per estimator).
HGB = "model.params.hist_gradient_boosting"


def _env() -> dict[str, str]:
    ignored = ("MLOPS_CONFIG", "MLOPS_DEBUG", "MLOPS_PROJECT")
    env = {k: v for k, v in os.environ.items() if k not in ignored}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    # Nothing leaves the machine: no DVC analytics, no MLflow telemetry.
    env.update(DVC_NO_ANALYTICS="1", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    # One OpenMP thread: on a busy 2-core machine, HistGradientBoosting's threads spin-wait on
    # each other and a 300-row fit takes seconds instead of a tenth of one. Results are equal.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        list(args), cwd=cwd, env=_env(), capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _ran(output: str) -> list[str]:
    """The stages `dvc repro` actually ran, in order."""
    return re.findall(r"^Running stage '([^']+)'", output, flags=re.MULTILINE)


def _skipped(output: str) -> list[str]:
    return re.findall(r"^Stage '([^']+)' didn't change, skipping", output, flags=re.MULTILINE)


def _stages(project: Path) -> dict[str, Any]:
    loaded = yaml.safe_load((project / "dvc.yaml").read_text(encoding="utf-8"))
    stages: dict[str, Any] = loaded["stages"]
    return stages


def _downstream(stages: dict[str, Any], start: str) -> set[str]:
    """`start` and every stage that (transitively) depends on one of its outputs."""

    def paths(entries: list[Any]) -> set[str]:
        return {next(iter(e)) if isinstance(e, dict) else str(e) for e in entries}

    found, changed = {start}, True
    while changed:
        changed = False
        outs = set().union(*(paths(stages[name].get("outs", [])) for name in found))
        for name, stage in stages.items():
            if name not in found and paths(stage.get("deps", [])) & outs:
                found.add(name)
                changed = True
    return found


def _runs(client: Any, experiment: str) -> list[Any]:
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"experiment {experiment!r} not in the store"
    return list(client.search_runs([found.experiment_id], order_by=["attributes.start_time ASC"]))


@pytest.fixture
def pipeline_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example project as its own git + DVC repository."""
    project = copy_example(tmp_path / "project")
    git_init(project)
    _run(project, str(BIN / "dvc"), "init", "-q")
    _run(project, "git", "add", "-A")
    _run(project, "git", "commit", "-q", "-m", "dvc init")
    monkeypatch.chdir(project)
    monkeypatch.delenv("MLOPS_CONFIG", raising=False)
    return project


@pytest.mark.slow
def test_dvc_repro_tracks_lineage_and_reruns_exactly_what_changed(
    pipeline_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    import pandas as pd

    from mlops import artifacts
    from mlops.data import load_schema

    project = pipeline_project
    dvc = str(BIN / "dvc")
    head = _run(project, "git", "rev-parse", "HEAD").stdout.strip()

    # ------------------------------------------------------------------ the first full run
    stages = _stages(project)
    assert [name for name in stages if name in STAGES] == STAGES
    first = _run(project, dvc, "repro")
    ran = _ran(first.stdout)
    assert sorted(ran) == sorted(stages)  # everything ran once...
    assert [name for name in ran if name in STAGES] == STAGES  # ...the spine in order
    for out in ("data/raw/dataset.parquet", "models/model.skops", "reports/metrics.json"):
        assert (project / out).is_file(), out
    lock = yaml.safe_load((project / "dvc.lock").read_text(encoding="utf-8"))
    assert set(lock["stages"]) == set(stages)

    opened = open_project()
    uri = f"sqlite:///{project / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    runs = _runs(client, opened.settings.tracking.experiment)
    assert len(runs) == 1
    run = runs[0]
    record = json.loads((project / "models" / "run.json").read_text(encoding="utf-8"))
    assert run.info.run_id == record["run_id"]
    assert run.info.status == "FINISHED"
    # Named for what ran: estimator, the hyperparameters params.yaml sets, the commit.
    assert run.info.run_name == f"hgb-lr0.1-it100-{head[:7]}"

    # Flattened params, exactly as params.yaml says (hyperparameters keyed by estimator).
    params = run.data.params
    assert params["model.estimator"] == "hist_gradient_boosting"
    assert params[f"{HGB}.max_iter"] == "100"
    assert params[f"{HGB}.learning_rate"] == "0.1"
    assert params["data.target"] == "species"
    assert params["split.seed"] == "42"
    flat = opened.config.params_flat()
    assert {key: params.get(key) for key in flat} == flat  # every key of params.yaml

    # Train metrics from `mlops train`, test metrics from `mlops eval` on the same run.
    metrics = run.data.metrics
    for name in ("accuracy", "f1_macro", "roc_auc", "log_loss"):
        assert f"train_{name}" in metrics
        assert f"test_{name}" in metrics
    assert "train_fit_seconds" in metrics
    reported = json.loads((project / "reports" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["test_accuracy"] == pytest.approx(reported["accuracy"])

    # Lineage: code, data and params.
    tags = run.data.tags
    assert tags["mlops.git_commit"] == head
    assert tags["mlops.git_dirty"] == "false"
    train_md5 = artifacts.file_md5(project / "data" / "processed" / "train.parquet")
    assert tags["mlops.data.train_md5"] == train_md5
    split_outs = {out["path"]: out["md5"] for out in lock["stages"]["split"]["outs"]}
    assert split_outs["data/processed/train.parquet"] == train_md5  # the hash DVC recorded
    assert tags["mlops.params_sha256"] == opened.config.params_hash()
    assert tags["mlops.version"] == __version__
    assert tags["mlops.gate.passed"] == "true"
    # The splits are the run's dataset inputs, with their md5 as digest (as in DVC's lock).
    test_md5 = artifacts.file_md5(project / "data" / "processed" / "test.parquet")
    inputs = {
        next(t.value for t in i.tags if t.key == "mlflow.data.context"): i.dataset
        for i in client.get_run(run.info.run_id).inputs.dataset_inputs
    }
    assert set(inputs) == {"training", "testing"}
    assert (inputs["training"].name, inputs["training"].digest) == ("train", train_md5[:36])
    assert (inputs["testing"].name, inputs["testing"].digest) == ("test", test_md5[:36])

    # The logged model loads through MLflow's pyfunc and agrees with the skops file.
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")  # we trust our own run
    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        pyfunc = mlflow.pyfunc.load_model(record["model_uri"])
    finally:
        mlflow.set_tracking_uri(previous_uri)
    schema = load_schema(opened.settings.paths.schema_file)
    test = pd.read_parquet(project / "data" / "processed" / "test.parquet")
    from_mlflow = pd.Series(pyfunc.predict(test[schema.features])).astype(str).tolist()
    skops_model = artifacts.load_model(project / "models" / "model.skops")
    from_skops = pd.Series(skops_model.predict(test[schema.features])).astype(str).tolist()
    assert from_mlflow == from_skops
    assert len(from_mlflow) == len(test)
    assert set(from_mlflow) <= set(schema.column("species").categories or [])

    # DVC sees the metrics file.
    shown = json.loads(_run(project, dvc, "metrics", "show", "--json").stdout)
    values = json.dumps(shown)
    assert "reports/metrics.json" in values
    assert str(reported["accuracy"])[:6] in values

    # ------------------------------------------------------------------ one hyperparameter
    text = (project / "params.yaml").read_text(encoding="utf-8")
    assert "max_iter: 100" in text
    (project / "params.yaml").write_text(text.replace("max_iter: 100", "max_iter: 60"), "utf-8")
    status = json.loads(_run(project, dvc, "status", "--json").stdout)
    assert "train" in status  # evaluate follows once train's outputs change
    assert set(status).isdisjoint({"ingest", "validate", "split", "evaluate"})

    second = _run(project, dvc, "repro")
    rerun = _downstream(stages, "train")  # train and what reads the model: evaluate
    assert {"train", "evaluate"} <= rerun
    assert rerun.isdisjoint({"ingest", "validate", "split"})
    assert sorted(_ran(second.stdout)) == sorted(rerun)
    assert _ran(second.stdout)[0] == "train"
    assert sorted(_skipped(second.stdout)) == sorted(set(stages) - rerun)
    runs = _runs(client, opened.settings.tracking.experiment)
    assert len(runs) == 2
    assert runs[-1].data.params[f"{HGB}.max_iter"] == "60"
    assert runs[-1].data.tags["mlops.data.train_md5"] == train_md5  # same data, new model
    assert "test_accuracy" in runs[-1].data.metrics

    # ------------------------------------------------------------------ nothing changed
    third = _run(project, dvc, "repro")
    assert _ran(third.stdout) == []
    assert sorted(_skipped(third.stdout)) == sorted(stages)
    # The `tune` stage (tune/dvc.yaml) is not part of `dvc repro`: it never ran, as status says.
    assert "tune" not in _ran(first.stdout + second.stdout + third.stdout)
    status = json.loads(_run(project, dvc, "status", "--json").stdout)
    assert list(status) == ["tune/dvc.yaml:tune"]
    assert not (project / "reports" / "tune.json").exists()
    assert len(_runs(client, opened.settings.tracking.experiment)) == 2

    # ------------------------------------------------------------------ tuning, when asked
    text = (project / "params.yaml").read_text(encoding="utf-8")
    small = text.replace("  trials: 20 ", "  trials: 2 ").replace("  cv: 5 ", "  cv: 2 ")
    (project / "params.yaml").write_text(small, encoding="utf-8")  # no root stage reads tune
    tuned = _run(project, dvc, "repro", "tune/dvc.yaml")
    assert "Running stage 'tune/dvc.yaml:tune'" in tuned.stdout
    report = json.loads((project / "reports" / "tune.json").read_text(encoding="utf-8"))
    assert report["trials"]["wanted"] == 2
    assert json.loads(_run(project, dvc, "status", "--json").stdout) == {}
    assert "reports/tune.json" in _run(project, dvc, "metrics", "show").stdout
    assert _ran(_run(project, dvc, "repro").stdout) == []
    runs = _runs(client, opened.settings.tracking.experiment)
    assert len([r for r in runs if r.data.tags.get("mlops.stage") == "tune"]) == 1

    # Every data.* key is an ingest param: listing the features reruns from ingest.
    tree = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
    tree["data"]["features"] = ["bill_length_mm", "flipper_length_mm"]
    (project / "params.yaml").write_text(yaml.safe_dump(tree), encoding="utf-8")
    assert "ingest" in json.loads(_run(project, dvc, "status", "--json").stdout)
