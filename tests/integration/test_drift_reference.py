"""The reference is the champion's training data (by lineage hash), and prediction drift is real.

A real MLflow registry in the trained project copy, a real DVC cache layout, real `dvc repro`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import git_init, open_project, open_store
from mlops import artifacts, registry
from mlops.drift import run_drift
from mlops.tracking import Store

BIN = Path(sys.executable).parent
TRAIN = Path("data/processed/train.parquet")


def _crown(store: Store) -> registry.ModelVersionInfo:
    """Register the trained run's model and make it the champion."""
    record = json.loads(open_project().paths.run_file.read_text(encoding="utf-8"))
    info = registry.register(store, record["model_uri"], {})
    registry.set_alias(store, store.names.champion_alias, info.version)
    return info


def test_reference_is_the_champions_training_data_and_predictions_are_compared(
    trained_project: Path,
) -> None:
    project, store = open_project(), open_store()
    info = _crown(store)
    result = run_drift(project, store)
    report = result.report
    assert report.reference.origin == "champion"
    assert report.reference.path == str(TRAIN)  # root-relative: no machine-specific paths
    assert report.reference.md5 == artifacts.file_md5(TRAIN)
    assert report.reference.champion == f"{info.name} v{info.version}"
    assert report.current.path == project.params.drift.current
    names = {c.column for c in report.prediction}
    assert names == {
        "prediction",
        "prediction_proba[Adelie]",
        "prediction_proba[Chinstrap]",
        "prediction_proba[Gentoo]",
    }
    prediction = next(c for c in report.prediction if c.column == "prediction")
    assert prediction.kind == "categorical" and prediction.method == "chisquare"
    assert prediction.verdict in ("drift", "no_drift")
    assert report.summary.prediction_drift is not None
    assert f"v{info.version}" in report.prediction_note
    assert report.target is not None and report.target.column == "species"
    assert report.summary.target_drift is not None
    assert result.json_path.is_file() and result.html_path.is_file()
    assert "prediction_proba[Gentoo]" in result.html_path.read_text(encoding="utf-8")


def test_reference_comes_from_the_dvc_cache_when_the_train_split_changed(
    trained_project: Path,
) -> None:
    project, store = open_project(), open_store()
    _crown(store)
    md5 = artifacts.file_md5(TRAIN)
    rows = pq.read_metadata(TRAIN).num_rows
    cached = trained_project / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    cached.parent.mkdir(parents=True)
    shutil.copyfile(TRAIN, cached)
    pq.write_table(pq.read_table(TRAIN).slice(0, 50), TRAIN)  # the split moved on
    report = run_drift(project, store).report
    assert report.reference.origin == "dvc_cache"
    assert report.reference.path == str(cached.relative_to(trained_project))
    assert report.reference.rows == rows
    assert "from the DVC cache" in report.reference.origin_reason

    cached.unlink()  # the champion's data is gone: fall back, and say why
    fallback = run_drift(project, store).report
    assert fallback.reference.origin == "fallback"
    assert fallback.reference.rows == 50
    assert "neither" in fallback.reference.origin_reason
    assert md5 in fallback.reference.origin_reason


def test_without_a_champion_the_train_split_is_the_reference(trained_project: Path) -> None:
    report = run_drift(open_project(), open_store()).report
    assert report.reference.origin == "fallback"
    assert "is not set" in report.reference.origin_reason
    assert report.prediction == []
    assert report.summary.prediction_drift is None
    assert report.verdict == "no_drift"  # the stratified test split looks like the train split


@pytest.mark.slow
def test_dvc_stage_writes_drift_metrics(trained_project: Path) -> None:
    ignored = ("MLOPS_CONFIG", "MLOPS_DEBUG", "MLOPS_PROJECT")
    env = {k: v for k, v in os.environ.items() if k not in ignored}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(DVC_NO_ANALYTICS="1", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")

    def run(*args: str) -> str:
        done = subprocess.run(
            args, cwd=trained_project, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    git_init(trained_project)
    run(str(BIN / "dvc"), "init", "-q")
    run(str(BIN / "dvc"), "repro", "--single-item", "drift")
    shown = json.loads(run(str(BIN / "dvc"), "metrics", "show", "--json"))
    metrics = shown[""]["data"]
    # The summary numbers are the metric; the full report is a plain output of the stage.
    assert "reports/drift.json" not in metrics
    summary = metrics["reports/drift_summary.json"]["data"]
    report = json.loads((trained_project / "reports" / "drift.json").read_text(encoding="utf-8"))
    assert report["summary"]["drift"] is False
    assert summary["drift"] is False
    for key in ("drifted", "tested", "share_drifted"):
        assert summary[key] == report["summary"][key], key
    assert report["reference"]["path"] == str(TRAIN)
    assert (trained_project / "reports" / "drift.html").is_file()


def test_reference_predictions_come_from_held_out_rows_not_training_rows(
    trained_project: Path,
) -> None:
    """On its training rows the model is over-fitted: its own test split would look drifted."""
    project, store = open_project(), open_store()
    _crown(store)
    test = Path("data/processed/test.parquet")
    report = run_drift(project, store, current=test).report
    assert report.reference.path == str(TRAIN)  # the features still compare with training data
    assert f"held-out test split of {report.reference.champion}" in report.prediction_note
    assert artifacts.file_md5(test) in report.prediction_note
    # The held-out split scored against itself: identical predictions, no drift at all.
    assert report.prediction
    for column in report.prediction:
        assert column.verdict == "no_drift", column
        assert column.statistic == pytest.approx(0.0, abs=1e-12), column

    # Given with --reference, the reference is scored as it is (the user chose it).
    given = run_drift(project, store, reference=TRAIN, current=test).report
    assert "reference predictions: the reference data data/processed/train.parquet" in (
        given.prediction_note
    )

    test.unlink()  # no held-out rows: said, not silently replaced by training rows
    (trained_project / "current.parquet").write_bytes(TRAIN.read_bytes())
    missing = run_drift(project, store, current=Path("current.parquet")).report
    assert missing.prediction == []
    assert "no held-out test split at data/processed/test.parquet" in missing.prediction_note


def test_excluded_and_dropped_features_are_never_compared_with_a_contract(
    trained_project: Path,
) -> None:
    """With the trained project's schema contract: `drift.exclude` and `data.drop` win."""
    frame = pq.read_table("data/processed/test.parquet").to_pandas()
    frame["bill_length_mm"] = frame["bill_length_mm"] + 100.0  # far outside the reference
    frame.to_parquet("shifted.parquet")
    shifted = Path("shifted.parquet")
    plain = run_drift(open_project(), open_store(), current=shifted).report
    column = next(c for c in plain.columns if c.column == "bill_length_mm")
    assert column.verdict == "drift"
    for override in ("drift.exclude=[bill_length_mm]", "data.drop=[bill_length_mm]"):
        report = run_drift(open_project(None, override), open_store(), current=shifted).report
        assert "bill_length_mm" not in {c.column for c in report.columns}, override
        assert "bill_length_mm" in {i.column for i in report.ignored}, override
        assert report.summary.columns == plain.summary.columns - 1
        assert report.summary.drifted == plain.summary.drifted - 1
