"""`mlops promote` / `mlops rollback` against a real MLflow SQLite store in a temp project."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from conftest import open_project, open_store
from mlops import registry
from mlops.cli.main import app
from mlops.gates import VARIETY_GATE
from mlops.promote.lock import promotion_lock
from mlops.tracking.tags import LINEAGE as LINEAGE_KEYS
from mlops.tracking.tags import PROMOTION_VERDICT, ROLLED_BACK

#: Fewer boosting rounds: still passes the absolute gates, but a lower roc_auc than the default.
WEAK = ("model.params.max_iter=3",)
#: One tiny boosting round: fails the balanced_accuracy gate.
WORSE = ("model.params.max_iter=1", "model.params.learning_rate=0.01")
LOGISTIC = ("model.estimator=logistic_regression", "model.params={}")
SIGNATURE_GATE = "signature compatible with champion"


def train(*overrides: str) -> str:
    from mlops.train import run_training

    return run_training(open_project(None, *overrides), open_store(None, *overrides)).run_id


def mlops(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def aliases() -> dict[str, str]:
    """alias -> version of the configured model."""
    return {
        alias: info.version
        for info in registry.list_versions(open_store())
        for alias in info.aliases
    }


def version_of(run_id: str) -> str:
    found = [info.version for info in registry.list_versions(open_store()) if info.run_id == run_id]
    assert len(found) == 1, f"run {run_id} registered {len(found)} times"
    return found[0]


def record(name: str = "promotion") -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(f"reports/{name}.json").read_text())
    return data


def gate(rec: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(g for g in rec["gates"] if g["name"] == name)
    return found


def split_features() -> Any:
    import pandas as pd

    test = pd.read_parquet("data/processed/test.parquet")
    return test.drop(columns=["species"])


def probabilities(uri: str | None = None) -> np.ndarray:
    loaded = registry.load_model(open_store(), uri)
    return np.asarray(loaded.model.predict_proba(split_features()))


def verdict(result: Result) -> str:
    """The one-line verdict printed last on stdout."""
    return result.stdout.strip().splitlines()[-1]


def ok(result: Result, code: int = 0) -> Result:
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    return result


@pytest.fixture
def original_run(trained_project: Path) -> str:
    """The run the template trained (default params: the strongest model here)."""
    return str(json.loads(Path("models/run.json").read_text())["run_id"])


@pytest.fixture
def weak_champion(original_run: str) -> str:
    """A weaker but gate-passing model promoted first (v1); returns its run id."""
    run_id = train(*WEAK)
    ok(mlops("promote", "--run-id", run_id))
    assert aliases() == {"champion": "1"}
    return run_id


# --------------------------------------------------------------------------- promote


def test_first_promotion_without_champion(original_run: str) -> None:
    from mlops import artifacts

    result = ok(mlops("promote"))  # candidate: the run recorded by the last `mlops train`

    assert verdict(result).startswith("promoted v1: all gates passed (champion -> v1)")
    versions = registry.list_versions(open_store())
    assert [(v.version, v.run_id, v.aliases) for v in versions] == [
        ("1", original_run, ("champion",))
    ]
    rec = record()
    assert rec["verdict"] == "promoted" and rec["champion"] is None and rec["comparison"] == []
    assert [g["name"] for g in rec["gates"]] == [*open_project().params.gate.metrics, VARIETY_GATE]
    assert rec["aliases"] == {"champion": "1"}
    # the champion is the model `mlops train` saved locally
    local = artifacts.load_model(Path("models/model.skops"))
    assert np.array_equal(probabilities(), local.predict_proba(split_features()))

    again = ok(mlops("promote"))  # the champion again: nothing to do
    assert verdict(again).startswith(
        f"unchanged v1: run {original_run} already is the champion (v1); nothing to do"
    )
    assert len(registry.list_versions(open_store())) == 1


def test_better_candidate_is_promoted_and_old_champion_becomes_previous(
    original_run: str, weak_champion: str
) -> None:
    result = ok(mlops("promote", "--run-id", original_run))

    assert verdict(result).startswith(
        "promoted v2: all gates passed (previous -> v1, champion -> v2)"
    )
    assert aliases() == {"champion": "2", "previous": "1"}
    assert version_of(original_run) == "2" and version_of(weak_champion) == "1"
    rec = record()
    assert rec["champion"]["version"] == "1" and rec["champion"]["run_id"] == weak_champion
    roc = next(row for row in rec["comparison"] if row["metric"] == "roc_auc")
    assert roc["better"] is True and roc["candidate"] > roc["champion"]
    assert gate(rec, "roc_auc vs champion")["passed"] is True
    assert gate(rec, SIGNATURE_GATE)["passed"] is True
    # every metric side by side, re-scored on the same test split
    assert {row["metric"] for row in rec["comparison"]} == set(rec["candidate"]["metrics"])
    assert all(row["champion"] is not None for row in rec["comparison"])


def test_worse_candidate_is_rejected_exit_3_and_becomes_challenger(original_run: str) -> None:
    ok(mlops("promote", "--run-id", original_run))
    worse = train(*WORSE)

    result = ok(mlops("promote"), 3)

    assert verdict(result).startswith("rejected v2: failed: balanced_accuracy, ")
    assert "(challenger -> v2)" in verdict(result)
    assert aliases() == {"champion": "1", "challenger": "2"}
    assert version_of(worse) == "2"
    rec = record()
    assert rec["verdict"] == "rejected"
    assert gate(rec, "balanced_accuracy")["passed"] is False
    assert gate(rec, "balanced_accuracy vs champion")["passed"] is False  # a guard metric
    # one tiny boosting round predicts the majority species for every penguin
    assert gate(rec, VARIETY_GATE)["passed"] is False
    assert rec["notes"] == ["the model predicts a single class ('Adelie') for every row"]
    assert "note: the model predicts a single class ('Adelie') for every row" in result.stdout
    tags = registry.get_version(open_store(), "2").tags
    assert tags["mlops.verdict"] == "rejected" and tags["mlops.run_id"] == worse
    # the champion still serves the original model
    assert registry.load_model(open_store()).run_id == original_run
    assert open_store().run_summary(worse)["lineage"]["mlops.promotion.verdict"] == "rejected"


def test_regression_tolerance_decides_promotion(original_run: str) -> None:
    ok(mlops("promote", "--run-id", original_run))
    weak = train(*WEAK)
    # no guard metrics: the primary metric's tolerance alone decides (guards: test_gates_fooled)
    primary_only = ("--set", "gate.guard=[]")

    ok(mlops(*primary_only, "--set", "gate.max_regression=0.0001", "promote"), 3)
    rec = record()
    assert [g["name"] for g in rec["gates"] if not g["passed"]] == ["roc_auc vs champion"]
    assert rec["tolerance"] == {
        "max_regression": 0.0001,
        "mode": "auto",  # the example's setting: roc_auc is compared absolutely
        "modes": {"roc_auc": "absolute"},
    }
    assert aliases() == {"champion": "1", "challenger": "2"}

    # the same candidate within the default tolerance (0.01) is promoted, and stops being
    # the challenger
    ok(mlops(*primary_only, "promote"))
    regression = record()["comparison"]
    roc = next(row for row in regression if row["metric"] == "roc_auc")
    assert 0 < -roc["delta"] <= 0.01
    assert aliases() == {"champion": "2", "previous": "1"}
    assert version_of(weak) == "2"


def test_relative_regression_mode(original_run: str) -> None:
    """log_loss (lower is better): a tolerance allowing the regression absolutely, not relatively."""
    ok(mlops("promote", "--run-id", original_run))
    train(*LOGISTIC)
    primary = ("--set", "gate.primary=log_loss")

    assert mlops(*primary, "promote", "--dry-run").exit_code in (0, 3)
    probe = record()
    candidate = probe["candidate"]["metrics"]["log_loss"]
    champion = probe["champion"]["metrics"]["log_loss"]
    worse_by = candidate - champion
    assert worse_by > 0 and champion < 1, (candidate, champion)
    tolerance = math.sqrt(worse_by * worse_by / champion)  # champion*tol < worse_by < tol
    tol = ("--set", f"gate.max_regression={tolerance!r}")

    ok(mlops(*primary, *tol, "--set", "gate.regression_mode=relative", "promote"), 3)
    rel = gate(record(), "log_loss vs champion")
    assert rel["passed"] is False and "relative" in rel["threshold"]
    assert f"<= {champion * (1 + tolerance):.6g}" in rel["threshold"]
    assert aliases() == {"champion": "1", "challenger": "2"}

    ok(mlops(*primary, *tol, "--set", "gate.regression_mode=absolute", "promote"))
    absolute = gate(record(), "log_loss vs champion")
    assert absolute["passed"] is True and "absolute" in absolute["threshold"]
    assert aliases() == {"champion": "2", "previous": "1"}


def test_signature_change_needs_force(original_run: str) -> None:
    from mlops.data import ingest, split

    ok(mlops("promote", "--run-id", original_run))
    dropped = open_project(None, "data.drop=[year]", *LOGISTIC)
    ingest(dropped)
    split(dropped)
    candidate = train("data.drop=[year]", *LOGISTIC)

    result = ok(mlops("promote"), 3)

    rec = record()
    # exactly what changed: one column gone (its type as the champion's signature declares it)
    [change] = rec["signature_changes"]
    assert re.fullmatch(r"column 'year' \((long|double)\) no longer accepted", change), change
    assert f"signature: {change}" in result.stderr
    assert [g["name"] for g in rec["gates"] if not g["passed"]] == [SIGNATURE_GATE]
    assert aliases() == {"champion": "1", "challenger": "2"}

    ok(mlops("promote", "--force", "--reason", "year is leaky"))
    rec = record()
    assert rec["verdict"] == "promoted" and rec["forced"] is True
    assert rec["reason"] == "year is leaky"
    assert aliases() == {"champion": "2", "previous": "1"}
    tags = registry.get_version(open_store(), "2").tags
    assert tags["mlops.forced"] == "true" and tags["mlops.reason"] == "year is leaky"
    assert tags["mlops.run_id"] == candidate


def test_dry_run_changes_nothing(original_run: str) -> None:
    def snapshot() -> list[tuple[str, str | None, tuple[str, ...], dict[str, str]]]:
        return [
            (v.version, v.run_id, v.aliases, dict(v.tags))
            for v in registry.list_versions(open_store())
        ]

    result = ok(mlops("promote", "--dry-run", "--run-id", original_run))
    assert verdict(result).startswith("[dry run] promoted: all gates passed")
    assert snapshot() == [] and record()["dry_run"] is True

    weak = train(*WEAK)
    ok(mlops("promote", "--run-id", weak))
    before = snapshot()
    assert aliases() == {"champion": "1"}

    ok(mlops("promote", "--dry-run", "--run-id", original_run))
    assert record()["verdict"] == "promoted" and record()["aliases"] == {}
    ok(mlops("promote", "--dry-run", "--run-id", train(*WORSE)), 3)
    assert record()["verdict"] == "rejected" and record()["dry_run"] is True
    assert snapshot() == before


def test_decision_record_lists_every_gate_and_both_lineages_and_is_logged(
    original_run: str, weak_champion: str, tmp_path: Path
) -> None:
    import mlflow

    ok(mlops("promote", "--run-id", original_run))
    rec = record()
    markdown = Path("reports/promotion.md").read_text()

    gates = open_project().params.gate.metrics
    guards = [f"{name} vs champion" for name in gates if name != "roc_auc"]
    expected = [*gates, VARIETY_GATE, "roc_auc vs champion", *guards, SIGNATURE_GATE]
    assert [g["name"] for g in rec["gates"]] == expected
    rows = markdown.splitlines()
    for g in rec["gates"]:
        assert set(g) == {"name", "value", "threshold", "passed"}
        assert any(line.startswith(f"| {g['name']} |") and g["threshold"] in line for line in rows)
    for side, run_id in (("candidate", original_run), ("champion", weak_champion)):
        lineage = rec[side]["lineage"]
        assert set(lineage) == set(LINEAGE_KEYS), side
        assert rec[side]["run_id"] == run_id and f"{run_id} |" in markdown
    for key in LINEAGE_KEYS:
        line = next(row for row in rows if row.startswith(f"| {key} |"))
        assert line == f"| {key} | {rec['candidate']['lineage'][key]} | " + (
            f"{rec['champion']['lineage'][key]} |"
        )
    for row in rec["comparison"]:
        assert any(line.startswith(f"| {row['metric']} |") for line in rows)
    assert set(rec["timings"]) == {"rescoring_s", "card_analysis_s", "registry_s"}

    store = open_store()
    client = store.client
    logged = {a.path for a in client.list_artifacts(original_run, "promotion")}
    assert logged == {"promotion/promotion.json", "promotion/promotion.md"}
    for name in ("promotion.json", "promotion.md"):
        local = mlflow.artifacts.download_artifacts(
            run_id=original_run,
            artifact_path=f"promotion/{name}",
            dst_path=str(tmp_path),
            tracking_uri=store.uri,
        )
        assert Path(local).read_text() == Path(f"reports/{name}").read_text()
    assert client.get_run(original_run).data.tags["mlops.promotion.verdict"] == "promoted"


def test_version_tags_carry_lineage_and_metrics(trained_project: Path) -> None:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], check=True, capture_output=True, text=True)
        return done.stdout.strip()

    git("init", "-q", "-b", "main")
    git("add", "params.yaml", "configs")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m", "x")
    run_id = train(*LOGISTIC)
    ok(mlops("promote", "--reason", "first model"))

    tags = registry.get_version(open_store(), "1").tags
    run_tags = open_store().run_summary(run_id)["lineage"]
    assert tags["mlops.git_commit"] == git("rev-parse", "HEAD")
    assert tags["mlops.git_dirty"] == "false"
    for key in LINEAGE_KEYS:
        assert tags[key] == run_tags[key], key
    assert tags["mlops.params_sha256"] == open_project(None, *LOGISTIC).config.params_hash()
    assert tags["mlops.run_id"] == run_id
    assert tags["mlops.verdict"] == "promoted" and tags["mlops.reason"] == "first model"
    assert tags["mlops.decided_by"] == record()["decided_by"] and "@" in tags["mlops.decided_by"]
    metrics = record()["candidate"]["metrics"]
    assert {k.removeprefix("mlops.metric.") for k in tags if k.startswith("mlops.metric.")} == set(
        metrics
    )
    for name, value in metrics.items():
        assert float(tags[f"mlops.metric.{name}"]) == pytest.approx(value, rel=1e-5)


def test_held_lock_makes_a_second_promotion_exit_1(
    original_run: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_PROMOTE_LOCK_TIMEOUT", "0.5")
    with promotion_lock(open_store()):
        result = ok(mlops("promote"), 1)
    assert result.stderr.startswith("error: promotion in progress")
    assert len(result.stderr.strip().splitlines()) == 1
    assert registry.list_versions(open_store()) == []
    ok(mlops("promote"))  # the lock is free again
    assert aliases() == {"champion": "1"}


def run_artifacts(run_id: str) -> dict[str, tuple[int, int]]:
    """Every file a run holds (local artifact store), with its size and mtime."""
    root = Path(urlparse(open_store().get_run(run_id).info.artifact_uri).path)
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_rerun_of_the_champion_is_a_no_op_that_writes_nothing(original_run: str) -> None:
    ok(mlops("promote"))
    store = open_store()
    reports = [Path("reports/promotion.json"), Path("reports/promotion.md")]
    before = {path: path.read_bytes() for path in reports}
    # (the template's runs keep their artifacts in the template's store, shared by the tests of
    # a session: compare before and after, not with a fixed listing)
    logged = run_artifacts(original_run)
    assert {"promotion/promotion.json", "promotion/promotion.md"} <= set(logged)
    version = registry.get_version(store, "1")
    description = store.client.get_model_version(store.model_name, "1").description

    again = ok(mlops("promote", "--run-id", original_run))

    assert verdict(again).startswith(
        f"unchanged v1: run {original_run} already is the champion (v1); nothing to do"
    )
    assert {path: path.read_bytes() for path in reports} == before
    assert store.get_run(original_run).data.tags[PROMOTION_VERDICT] == "promoted"
    assert run_artifacts(original_run) == logged  # nothing added or rewritten
    # nor is the registry touched: same versions, aliases, tags and description
    assert registry.list_versions(store) == [version]
    assert store.client.get_model_version(store.model_name, "1").description == description


def test_rollback_sticks_until_forced(original_run: str, weak_champion: str) -> None:
    ok(mlops("promote", "--run-id", original_run))  # v2: the better model
    assert aliases() == {"champion": "2", "previous": "1"}
    ok(mlops("rollback", "--reason", "bad canary"))
    assert aliases() == {"champion": "1", "previous": "2"}

    refused = ok(mlops("promote", "--run-id", original_run), 3)

    name = "v2 was not rolled back from"
    assert verdict(refused).startswith(f"rejected v2: failed: {name}")
    rec = record()
    assert rec["verdict"] == "rejected"
    assert [g["name"] for g in rec["gates"] if not g["passed"]] == [name]
    rolled = gate(rec, name)
    assert "rolled back to v1" in rolled["threshold"]
    assert "reports/rollback.json" in rolled["threshold"]
    assert "--force --reason" in rolled["threshold"]
    assert aliases()["champion"] == "1"
    assert registry.load_model(open_store()).run_id == weak_champion
    assert registry.get_version(open_store(), "2").tags[ROLLED_BACK]

    forced = ok(mlops("promote", "--run-id", original_run, "--force", "--reason", "fixed"))

    assert verdict(forced).startswith(f"promoted v2: forced past: {name}")
    rec = record()
    assert rec["verdict"] == "promoted" and rec["forced"] is True and rec["reason"] == "fixed"
    assert aliases() == {"champion": "2", "previous": "1"}
    tags = registry.get_version(open_store(), "2").tags
    assert tags["mlops.forced"] == "true" and tags["mlops.reason"] == "fixed"
    assert not tags.get(ROLLED_BACK)  # forced back in: the rollback no longer holds it out
    assert registry.load_model(open_store()).run_id == original_run


def test_version_description_is_the_decision_record_then_the_card(original_run: str) -> None:
    from mlflow import MlflowClient

    ok(mlops("promote"))

    store = open_store()
    markdown = Path("reports/promotion.md").read_text()
    assert markdown.startswith("# Promotion decision: PROMOTED")
    found = MlflowClient(tracking_uri=store.uri).get_model_version(store.model_name, "1")
    assert "# Promotion decision: PROMOTED" in found.description
    assert found.description.startswith(markdown.strip())
    assert "# Model card: " in found.description.removeprefix(markdown.strip())


def test_registration_links_the_logged_model_to_its_version(original_run: str) -> None:
    from mlflow import MlflowClient

    ok(mlops("promote"))

    store = open_store()
    uri = store.logged_model_uri(original_run)
    assert uri.startswith("models:/m-"), uri
    logged = MlflowClient(tracking_uri=store.uri).get_logged_model(uri.removeprefix("models:/"))
    linked = json.loads(logged.tags["mlflow.modelVersions"])
    assert [(str(v["name"]), str(v["version"])) for v in linked] == [(store.model_name, "1")]


def test_a_promotion_connects_to_the_store_once(original_run: str) -> None:
    import mlops.tracking.store as store_module

    before = store_module.CONNECTIONS
    ok(mlops("promote"))
    assert store_module.CONNECTIONS - before == 1
    assert aliases() == {"champion": "1"}


# --------------------------------------------------------------------------- rollback


def test_rollback_restores_previous_champion_and_its_predictions(
    original_run: str, weak_champion: str
) -> None:
    weak_predictions = probabilities()
    ok(mlops("promote", "--run-id", original_run))
    strong_predictions = probabilities()
    assert not np.allclose(weak_predictions, strong_predictions)

    result = ok(mlops("rollback", "--reason", "bad canary"))

    assert verdict(result).startswith("rolled_back v1: champion v2 -> v1")
    assert aliases() == {"champion": "1", "previous": "2"}
    assert registry.load_model(open_store()).run_id == weak_champion
    assert np.array_equal(probabilities(), weak_predictions)
    rec = record("rollback")
    assert rec["verdict"] == "rolled_back" and rec["reason"] == "bad canary"
    assert rec["candidate"]["version"] == "1" and rec["champion"]["version"] == "2"
    assert rec["candidate"]["lineage"] and rec["champion"]["lineage"]

    ok(mlops("rollback", "--to", "@previous"))  # and forward again
    assert aliases() == {"champion": "2", "previous": "1"}
    assert np.array_equal(probabilities(), strong_predictions)


def test_rollback_refuses_a_version_whose_artifacts_are_missing(
    original_run: str, weak_champion: str
) -> None:
    ok(mlops("promote", "--run-id", original_run))
    store = open_store()
    location = store.client.get_model_version_download_uri(store.model_name, "1")
    model_dir = Path(urlparse(location).path)
    # only the weak model trained by this test, never the shared template's
    shared_model = store.logged_model_uri(original_run).removeprefix("models:/")
    assert (model_dir / "MLmodel").exists() and shared_model not in str(model_dir)
    shutil.rmtree(model_dir)

    for args in (("rollback",), ("rollback", "--to", "1")):
        result = ok(mlops(*args), 1)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: refusing rollback to v1"), lines
        assert aliases() == {"champion": "2", "previous": "1"}
    assert not Path("reports/rollback.json").exists()
