"""`mlops runs compare` judges as `mlops promote` does, and `mlops runs` output is redacted.

On a rare-positive binary target the primary metric promote compares is average precision, not
ROC AUC, and its tolerance is the project's `gate`, not what a run logged: the verdict of
`runs compare CANDIDATE @champion --fail-on-regression` (what CI runs) is promote's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from conftest import open_project, open_store
from integration.test_gates_fooled import configure, write_credit_csv
from mlops.cli.main import app

#: The champion: boosted trees find the rare positives' band.
STRONG = ("model.estimator=hist_gradient_boosting", "model.params={}")
#: The candidate: a linear model ranks fairly (ROC AUC) but is poor on the rare class (PR-AUC);
#: its own run logs a loose tolerance that promote never reads.
LINEAR = ("model.estimator=logistic_regression", "model.params={}", "gate.max_regression=0.9")


def mlops(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def exits(result: Result, *codes: int) -> Result:
    assert result.exit_code in codes, (result.exit_code, result.output, result.exception)
    return result


def train_and_eval(*overrides: str) -> str:
    from mlops.evaluate import run_evaluation
    from mlops.train import run_training

    run_id = run_training(open_project(None, *overrides), open_store(None, *overrides)).run_id
    run_evaluation(open_project(None, *overrides), open_store(None, *overrides))
    return run_id


@pytest.fixture
def credit_runs(project: Path) -> dict[str, str]:
    """The rare-positive credit file (~3% "Yes"), `gate.primary` unset; a boosted-trees champion
    and a logistic-regression candidate, both trained and evaluated."""
    from mlops.data import ingest, split
    from mlops.promote import run_promotion

    write_credit_csv(project / "credit.csv")
    configure(
        project,
        data={"source": "credit.csv", "target": "default", "task": "classification", "drop": []},
        gate={
            "metrics": {},
            "primary": None,
            "max_regression": 0.01,
            "regression_mode": "absolute",
            "guard": [],
        },
    )
    ingest(open_project(project))
    split(open_project(project))
    champion = train_and_eval(*STRONG)
    run_promotion(open_project(project), open_store(project), champion)
    return {"champion": champion, "candidate": train_and_eval(*LINEAR)}


def test_compare_verdict_is_promotes_on_a_rare_positive_class(
    credit_runs: dict[str, str],
) -> None:
    candidate = credit_runs["candidate"]
    first = json.loads(exits(mlops("runs", "compare", candidate, "@champion", "--json"), 0).stdout)
    metrics = {row["name"]: row["values"] for row in first["metrics"]}
    # How much worse the candidate is on each metric (positive: a regression).
    drop = {
        name: metrics[f"test_{name}"][1] - metrics[f"test_{name}"][0]
        for name in ("roc_auc", "average_precision")
    }
    assert drop["average_precision"] > 0
    # A tolerance between the two regressions: ROC AUC would pass it, PR-AUC does not (or the
    # other way round): the two choices of primary metric disagree.
    tolerance = sum(drop.values()) / 2
    assert min(drop.values()) < tolerance < max(drop.values()), drop
    settings = ("--set", f"gate.max_regression={tolerance:.6f}")

    compared = exits(
        mlops(
            *settings, "runs", "compare", candidate, "@champion", "--json", "--fail-on-regression"
        ),
        0,
        3,
    )
    verdict = json.loads(compared.stdout)
    record = promote_dry_run(*settings, run_id=candidate)

    assert record["primary_metric"] == verdict["primary_metric"] == "average_precision"
    [check] = vs_champion(record)
    assert verdict["verdict"]["check"] == check["name"] == "average_precision vs champion"
    assert verdict["verdict"]["threshold"] == check["threshold"]
    assert verdict["verdict"]["passed"] is check["passed"]
    assert (compared.exit_code == 3) is (not check["passed"])
    # The project's tolerance, not the 0.9 the candidate's run logged.
    assert verdict["verdict"]["max_regression"] == pytest.approx(tolerance, abs=1e-6)
    assert verdict["gate"]["gate.max_regression"] == ["0.9", "0.01"]
    # Judged on ROC AUC the verdict would have been the other one.
    assert (drop["roc_auc"] <= tolerance) is (not check["passed"])

    # Guard metrics: promote checks them after the primary one, and so does the verdict.
    guarded = (*settings, "--set", "gate.guard=[roc_auc, average_precision]")
    both = json.loads(
        exits(mlops(*guarded, "runs", "compare", candidate, "@champion", "--json"), 0).stdout
    )
    [primary, guard] = vs_champion(promote_dry_run(*guarded, run_id=candidate))
    assert both["verdict"]["check"] == primary["name"]
    assert (
        [(g["check"], g["passed"]) for g in both["verdict"]["guards"]]
        == [(guard["name"], guard["passed"])]
        == [("roc_auc vs champion", not check["passed"])]
    )
    assert both["verdict"]["passed"] is False  # one of the two regressed beyond the tolerance


def promote_dry_run(*settings: str, run_id: str) -> dict[str, Any]:
    """`mlops promote --dry-run`'s decision record (rejected or not: other gates count too)."""
    exits(mlops(*settings, "promote", "--run-id", run_id, "--dry-run", "--json"), 0, 3)
    record: dict[str, Any] = json.loads(Path("reports/promotion.json").read_text())
    return record


def vs_champion(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Promote's comparisons with the champion, in its order (primary metric, then guards)."""
    return [g for g in record["gates"] if g["name"].endswith(" vs champion")]


def test_a_secret_in_a_run_never_reaches_runs_output(
    trained_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret's value in a run's name, tags and params, and credentials in a URI tag, are
    redacted in every `mlops runs` output (JSON included)."""
    from mlops.tracking import tags

    run_id = json.loads(Path("models/run.json").read_text())["run_id"]
    client = open_store().client
    client.set_tag(run_id, "mlflow.runName", "run-hunter22-a")
    client.set_tag(run_id, tags.ESTIMATOR, "hunter22")
    client.set_tag(run_id, tags.DVC_EXPERIMENT, "https://bob:pa55word@example.com/exp")
    client.log_param(run_id, "extra.token", "hunter22")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "hunter22")
    outputs = [
        exits(mlops("runs", "list", "--json"), 0).stdout,
        exits(mlops("runs", "list"), 0).stdout,
        exits(mlops("runs", "compare", run_id, run_id, "--json"), 0).stdout,
        exits(mlops("runs", "compare", run_id, run_id, "--md"), 0).stdout,
    ]
    [listed] = json.loads(outputs[0])
    assert listed["run_name"] == "run-***-a" and listed["estimator"] == "***"
    assert listed["dvc_experiment"] == "https://***@example.com/exp"
    for text in outputs:
        assert "hunter22" not in text and "pa55word" not in text and "***" in text


@pytest.mark.parametrize(
    ("command", "example"),
    [("list", "mlops runs list -n 5"), ("compare", "mlops runs compare HEAD @champion --md")],
)
def test_examples_are_an_epilog_as_in_every_command(command: str, example: str) -> None:
    from mlops.cli import runs

    text = exits(mlops("runs", command, "--help"), 0).stdout
    assert text.index("Examples:") > text.index("--help") and example in text
    callback = getattr(runs, "list_" if command == "list" else command)
    assert "Examples" not in (callback.__doc__ or "")


def test_a_filter_mlflow_rejects_is_rejected(trained_project: Path) -> None:
    """`metrics.a-b` is a subtraction to MLflow: an error, not a metric named `a-b`."""
    result = exits(mlops("runs", "list", "--filter", "metrics.a-b > 1"), 1)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "a-b" in line and result.stdout == ""
    quoted = exits(mlops("runs", "list", "--json", "--filter", "metrics.`a-b` > 1"), 0)
    assert json.loads(quoted.stdout) == []
