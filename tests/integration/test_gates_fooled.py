"""Gates that cannot be fooled, through the real stages and a real MLflow store.

The issue's case: on a credit-default file with 3% positives, a model predicting "No" for every
row (accuracy = the share of "No", ROC AUC still high) passed every gate and was promoted; a
candidate worse on every gated metric was promoted because only the primary metric counted; and an
RMSE tolerance of 0.01 meant 0.01 target units.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner, Result

from cli.helpers import run_mlops
from conftest import open_project, open_store
from mlops import registry
from mlops.cli.main import app
from mlops.gates import VARIETY_GATE

from .test_promote import WEAK

SINGLE_CLASS_NOTE = "the model predicts a single class ('No') for every row"
#: The gates the issue's user had: both pass for a majority-class predictor on rare positives.
FOOLED_GATES = {"accuracy": {"min": 0.9}, "roc_auc": {"min": 0.7}}
REAL_MODEL = ("model.estimator=hist_gradient_boosting", "model.params={}")


def mlops(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def ok(result: Result, code: int = 0) -> Result:
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    return result


def train(*overrides: str) -> str:
    from mlops.train import run_training

    return run_training(open_project(None, *overrides), open_store(None, *overrides)).run_id


def record() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path("reports/promotion.json").read_text())
    return data


def gates_by_name(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {g["name"]: g for g in results}


def failing(rec: dict[str, Any]) -> list[str]:
    return [g["name"] for g in rec["gates"] if not g["passed"]]


def aliases() -> dict[str, str]:
    return {
        alias: info.version
        for info in registry.list_versions(open_store())
        for alias in info.aliases
    }


def configure(root: Path, **sections: dict[str, Any]) -> None:
    """Replace keys of params.yaml sections (the project's own file, as a user edits it)."""
    path = root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for section, values in sections.items():
        params.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def write_credit_csv(path: Path, rows: int = 4000, seed: int = 7) -> pd.Series:
    """A credit-default file with ~3% positives that only a non-linear model can pick out.

    Defaults sit in a narrow utilization band with a high payment score: a linear model ranks
    them fairly (through the score) but never reaches probability 0.5, so it predicts "No" for
    every row; boosted trees find the band.
    """
    rng = np.random.default_rng(seed)
    utilization = rng.uniform(-1, 1, rows).round(4)
    score = rng.uniform(-1, 1, rows).round(4)
    default = (np.abs(utilization) < 0.12) & (score > 0.5)
    default &= rng.random(rows) > 0.01  # a little label noise
    frame = pd.DataFrame(
        {
            "utilization": utilization,
            "payment_score": score,
            "age": rng.integers(20, 80, rows),
            "region": rng.choice(["north", "east", "south", "west"], rows),
            "default": np.where(default, "Yes", "No"),
        }
    )
    frame.to_csv(path, index=False)
    return frame["default"]


@pytest.fixture
def credit(project: Path) -> Path:
    """A project on the rare-positive CSV, ingested and split; the model: logistic regression."""
    from mlops.data import ingest, split

    target = write_credit_csv(project / "credit.csv")
    assert 0.02 < (target == "Yes").mean() < 0.04
    configure(
        project,
        data={"source": "credit.csv", "target": "default", "task": "classification", "drop": []},
        model={"estimator": "logistic_regression", "params": {}},
        gate={
            "metrics": FOOLED_GATES,
            "primary": None,  # the default: chosen from the class balance
            "max_regression": 0.01,
            "regression_mode": "auto",
            "guard": None,
        },
    )
    ingest(open_project(project))
    split(open_project(project))
    return project


# --------------------------------------------------------------------------- eval


def test_a_majority_predictor_fails_the_gates_it_used_to_fool(credit: Path) -> None:
    train()  # logistic regression: never predicts "Yes" here

    result = run_mlops("eval", cwd=credit)  # the real process: what a user sees

    assert result.returncode == 3, (result.stdout, result.stderr)
    lines = result.stdout.splitlines()
    assert f"note: {SINGLE_CLASS_NOTE}" in lines
    assert (
        lines[-1] == f"gate FAILED: {VARIETY_GATE}=1.0000 (needs >= 2 distinct predicted classes)"
    )
    [warning] = [line for line in result.stderr.splitlines() if "class imbalance" in line]
    assert "'Yes' is 3." in warning and "% of the training target (under 10%)" in warning
    assert "`model.class_weight: balanced`" in warning
    assert "balanced_accuracy or minority_recall" in warning

    gate = json.loads((credit / "reports" / "gate.json").read_text())
    results = gates_by_name(gate["results"])
    # what fooled the old gates: accuracy is the share of "No", the scores still rank well
    assert results["accuracy"]["passed"] and results["accuracy"]["value"] > 0.95
    assert results["roc_auc"]["passed"] and results["roc_auc"]["value"] > 0.7
    assert results[VARIETY_GATE] == {
        "name": VARIETY_GATE,
        "value": 1.0,
        "threshold": ">= 2 distinct predicted classes",
        "passed": False,
    }
    assert gate["passed"] is False and gate["notes"] == [SINGLE_CLASS_NOTE]
    metrics = json.loads((credit / "reports" / "metrics.json").read_text())
    assert metrics["balanced_accuracy"] == pytest.approx(0.5)
    assert metrics["minority_recall"] == 0.0 and metrics["minority_precision"] == 0.0


def test_the_gates_an_init_project_gets_fail_it_and_pass_a_real_model(credit: Path) -> None:
    from mlops.evaluate import default_primary
    from mlops.scaffold import default_gates

    target = pd.read_csv(credit / "credit.csv")["default"]
    gates, primary, _ = default_gates("classification", target)
    assert primary == default_primary("classification", target) == "average_precision"
    init_gates = ("--set", f"gate.metrics={json.dumps(gates)}")
    train()

    constant = ok(mlops(*init_gates, "eval", "--json"), 3)

    payload = json.loads(constant.stdout)
    failed = [r["name"] for r in payload["gate"]["results"] if not r["passed"]]
    assert "balanced_accuracy" in failed and VARIETY_GATE in failed
    assert payload["gate"]["notes"] == [SINGLE_CLASS_NOTE]

    train(*REAL_MODEL)
    real = ok(mlops(*init_gates, "eval"))
    assert real.stdout.splitlines()[-1] == "gate passed"
    assert "note:" not in real.stdout
    metrics = json.loads((credit / "reports" / "metrics.json").read_text())
    assert metrics["minority_recall"] > 0.5 and metrics["minority_precision"] > 0.5


# --------------------------------------------------------------------------- promote


def test_a_majority_predictor_is_refused_promotion_over_a_real_model(credit: Path) -> None:
    constant = train()

    first = ok(mlops("promote"), 3)  # no champion yet: the gate alone refuses it

    assert first.stdout.splitlines()[-1].startswith(f"rejected v1: failed: {VARIETY_GATE} ")
    assert f"note: {SINGLE_CLASS_NOTE}" in first.stdout
    assert record()["notes"] == [SINGLE_CLASS_NOTE]
    assert aliases() == {"challenger": "1"}

    real = train(*REAL_MODEL)
    ok(mlops("promote"))
    assert aliases() == {"champion": "2", "challenger": "1"}

    again = ok(mlops("promote", "--run-id", constant), 3)

    rec = record()
    assert rec["verdict"] == "rejected" and rec["candidate"]["run_id"] == constant
    assert rec["champion"]["run_id"] == real
    # the class balance chose the primary metric: PR-AUC of the rare class
    assert rec["primary_metric"] == "average_precision"
    results = gates_by_name(rec["gates"])
    assert results["accuracy"]["passed"] and results["roc_auc"]["passed"]  # fooled alone
    assert set(failing(rec)) == {
        VARIETY_GATE,
        "average_precision vs champion",
        "accuracy vs champion",
        "roc_auc vs champion",
    }
    assert rec["notes"] == [SINGLE_CLASS_NOTE]
    assert f"- note: {SINGLE_CLASS_NOTE}" in Path("reports/promotion.md").read_text()
    assert f"note: {SINGLE_CLASS_NOTE}" in again.stdout
    assert aliases() == {"champion": "2", "challenger": "1"}
    assert registry.load_model(open_store()).run_id == real


# --------------------------------------------------------------------------- guard metrics


@pytest.fixture
def original_run(trained_project: Path) -> str:
    """The penguins run the session template trained (default params: the strongest model)."""
    return str(json.loads(Path("models/run.json").read_text())["run_id"])


def test_a_candidate_better_only_on_the_primary_metric_is_rejected(original_run: str) -> None:
    """Fewer boosting rounds: more precise on the rarest species, worse on every gated metric."""
    ok(mlops("promote", "--run-id", original_run))
    weak = train(*WEAK)
    guarded = (
        "--set", "gate.primary=minority_precision",
        "--set", "gate.metrics={accuracy: {min: 0.9}, balanced_accuracy: {min: 0.9}, "
        "recall_macro: {min: 0.9}, f1_macro: {min: 0.9}}",
        "--set", "gate.max_regression=0.01",
    )  # fmt: skip

    ok(mlops(*guarded, "promote"), 3)

    rec = record()
    rows = {row["metric"]: row for row in rec["comparison"]}
    gated = ["accuracy", "balanced_accuracy", "recall_macro", "f1_macro"]
    # the situation: better on the primary metric, worse beyond the tolerance on every gate
    assert rows["minority_precision"]["better"] is True
    for name in gated:
        assert rows[name]["delta"] < -0.01, rows[name]
    assert rec["gates"][0]["passed"] and all(
        gates_by_name(rec["gates"])[g]["passed"] for g in gated
    )
    assert gates_by_name(rec["gates"])["minority_precision vs champion"]["passed"] is True
    assert failing(rec) == [f"{name} vs champion" for name in gated]
    assert rec["tolerance"]["modes"] == dict.fromkeys(["minority_precision", *gated], "absolute")
    assert aliases() == {"champion": "1", "challenger": "2"}

    # what the primary metric alone decided before guards: promoted
    ok(mlops(*guarded, "--set", "gate.guard=[]", "promote"))
    assert failing(record()) == []
    assert aliases() == {"champion": "2", "previous": "1"}
    assert registry.load_model(open_store()).run_id == weak


# --------------------------------------------------------------------------- relative tolerance


def test_auto_rmse_tolerance_is_a_share_of_the_champion_rmse(project: Path) -> None:
    """0.01 of RMSE under `auto` is 1% of the champion's RMSE, not 0.01 target units."""
    from mlops.data import ingest, split

    configure(
        project,
        data={"source": "builtin:diabetes", "target": "target", "task": "regression", "drop": []},
        split={"stratify": False},
        model={"estimator": "ridge", "params": {"alpha": 50.0}},
        gate={
            "metrics": {"r2": {"min": 0.1}, "rmse": {"max": 1000}},
            "primary": "rmse",
            "max_regression": 0.01,
            "regression_mode": "auto",
            "guard": None,
        },
    )
    ingest(open_project(project))
    split(open_project(project))
    train()
    ok(mlops("promote"))
    train("model.params={alpha: 1.0}")  # a little less regularised: a little worse here

    ok(mlops("--set", "gate.regression_mode=absolute", "promote"), 3)

    rec = record()
    champion = rec["champion"]["metrics"]["rmse"]
    worse_by = rec["candidate"]["metrics"]["rmse"] - champion
    assert 0.01 < worse_by < 0.01 * champion  # beyond 0.01 units, within 1% of the champion
    assert failing(rec) == ["rmse vs champion"]
    assert rec["tolerance"]["modes"] == {"rmse": "absolute", "r2": "absolute"}
    assert VARIETY_GATE not in gates_by_name(rec["gates"])  # a regressor predicts no classes
    assert aliases() == {"champion": "1", "challenger": "2"}

    ok(mlops("promote"))  # auto: relative for rmse

    rec = record()
    rmse = gates_by_name(rec["gates"])["rmse vs champion"]
    assert rmse["passed"] is True
    assert rmse["threshold"].startswith(f"<= {champion * 1.01:.6g} (champion {champion:.6g} + ")
    assert "0.01 relative" in rmse["threshold"]
    assert rec["tolerance"] == {
        "max_regression": 0.01,
        "mode": "auto",
        "modes": {"rmse": "relative", "r2": "absolute"},
    }
    assert "(max regression 0.01 relative)" in Path("reports/promotion.md").read_text()
    assert aliases() == {"champion": "2", "previous": "1"}
