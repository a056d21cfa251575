"""The promotion policy as pure functions: metric comparison, regression, signatures, records."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import pytest

from mlops.config import GateParams, TrackingSettings
from mlops.errors import PromotionConflictError
from mlops.evaluate import LOWER_IS_BETTER
from mlops.gates import GateResult
from mlops.promote.lock import lock_path, promotion_lock
from mlops.promote.policy import compare_metrics, regression_check, signature_changes
from mlops.promote.record import DecisionRecord, ModelSide, to_markdown
from mlops.tracking import Store


def gate(tolerance: float, mode: Literal["absolute", "relative"] = "absolute") -> GateParams:
    return GateParams(max_regression=tolerance, regression_mode=mode)


# --------------------------------------------------------------------------- compare_metrics


def test_compare_metrics_lists_every_metric_with_direction() -> None:
    rows = compare_metrics(
        {"roc_auc": 0.97, "log_loss": 0.20, "accuracy": 0.9},
        {"roc_auc": 0.95, "log_loss": 0.10, "f1_macro": 0.8},
        LOWER_IS_BETTER,
    )
    by_name = {row.metric: row for row in rows}
    assert sorted(by_name) == ["accuracy", "f1_macro", "log_loss", "roc_auc"]
    assert by_name["roc_auc"].better is True
    assert by_name["roc_auc"].delta == pytest.approx(0.02)
    # lower is better: a higher log loss is worse
    assert by_name["log_loss"].higher_is_better is False
    assert by_name["log_loss"].better is False
    # a metric only one side has is shown, but not compared
    assert by_name["accuracy"].champion is None and by_name["accuracy"].better is None
    assert by_name["f1_macro"].candidate is None and by_name["f1_macro"].delta is None


# --------------------------------------------------------------------------- regression_check


@pytest.mark.parametrize(
    ("candidate", "passed"),
    [(0.95, True), (0.941, True), (0.94, True), (0.9399, False), (0.5, False)],
)
def test_absolute_regression_higher_is_better(candidate: float, passed: bool) -> None:
    result = regression_check(
        "roc_auc", {"roc_auc": candidate}, {"roc_auc": 0.95}, gate(0.01), LOWER_IS_BETTER
    )
    assert result.passed is passed
    assert result.name == "roc_auc vs champion"
    assert result.value == candidate
    assert ">= 0.94" in result.threshold and "absolute" in result.threshold


def test_absolute_regression_lower_is_better() -> None:
    champion = {"rmse": 10.0}
    worse = regression_check("rmse", {"rmse": 10.5}, champion, gate(1.0), LOWER_IS_BETTER)
    too_worse = regression_check("rmse", {"rmse": 11.5}, champion, gate(1.0), LOWER_IS_BETTER)
    better = regression_check("rmse", {"rmse": 2.0}, champion, gate(0.0), LOWER_IS_BETTER)
    assert worse.passed and not too_worse.passed and better.passed
    assert "<= 11" in worse.threshold


def test_relative_regression_scales_with_the_champion() -> None:
    # 10% of a champion rmse of 50 allows 5; absolute 0.1 would allow only 0.1
    champion = {"rmse": 50.0}
    relative = regression_check(
        "rmse", {"rmse": 54.0}, champion, gate(0.1, "relative"), LOWER_IS_BETTER
    )
    too_far = regression_check(
        "rmse", {"rmse": 55.5}, champion, gate(0.1, "relative"), LOWER_IS_BETTER
    )
    absolute = regression_check("rmse", {"rmse": 54.0}, champion, gate(0.1), LOWER_IS_BETTER)
    assert relative.passed and "<= 55" in relative.threshold
    assert "relative" in relative.threshold
    assert not too_far.passed
    assert not absolute.passed


def test_relative_regression_small_champion_is_stricter_than_absolute() -> None:
    champion = {"log_loss": 0.03}
    candidate = {"log_loss": 0.033}
    absolute = regression_check("log_loss", candidate, champion, gate(0.01), LOWER_IS_BETTER)
    relative = regression_check(
        "log_loss", candidate, champion, gate(0.01, "relative"), LOWER_IS_BETTER
    )
    assert absolute.passed
    assert not relative.passed


@pytest.mark.parametrize(
    ("candidate", "champion"),
    [({}, {"roc_auc": 0.9}), ({"roc_auc": 0.9}, {}), ({"roc_auc": math.nan}, {"roc_auc": 0.9})],
)
def test_regression_without_comparable_metric_fails(
    candidate: dict[str, float], champion: dict[str, float]
) -> None:
    result = regression_check("roc_auc", candidate, champion, gate(1.0), LOWER_IS_BETTER)
    assert result.passed is False


# --------------------------------------------------------------------------- signature_changes


def spec(name: str, kind: str = "double", required: bool = True) -> dict[str, object]:
    return {"name": name, "type": kind, "required": required}


def test_identical_signatures_have_no_changes() -> None:
    inputs = [spec("bill_length_mm"), spec("island", "string")]
    assert signature_changes(inputs, list(reversed(inputs))) == []


def test_signature_changes_say_exactly_what_changed() -> None:
    champion = [spec("a"), spec("b"), spec("c", "string")]
    candidate = [spec("a"), spec("c", "double"), spec("d", "long")]
    changes = signature_changes(candidate, champion)
    assert "new required column 'd' (long)" in changes
    assert "column 'b' (double) no longer accepted" in changes
    assert "column 'c' type string -> double" in changes
    assert len(changes) == 3


def test_optional_columns_do_not_count_as_required() -> None:
    champion = [spec("a")]
    candidate = [spec("a"), spec("extra", required=False)]
    assert signature_changes(candidate, champion) == []


# --------------------------------------------------------------------------- records


def sample_record() -> DecisionRecord:
    gates = [
        GateResult(name="accuracy", value=0.95, threshold=">= 0.9", passed=True),
        GateResult(name="roc_auc vs champion", value=0.91, threshold=">= 0.94", passed=False),
        GateResult(
            name="signature compatible with champion",
            value=None,
            threshold="same required columns and types",
            passed=True,
        ),
    ]
    return DecisionRecord(
        action="promote",
        verdict="rejected",
        model_name="m",
        decided_by="me@host",
        decided_at="2024-01-01T00:00:00+00:00",
        primary_metric="roc_auc",
        tolerance={"max_regression": 0.01, "mode": "absolute"},
        candidate=ModelSide(
            run_id="cand-run",
            version="3",
            metrics={"roc_auc": 0.91},
            lineage={"mlops.git_commit": "abc123", "mlops.data.train_md5": "c1"},
        ),
        champion=ModelSide(
            run_id="champ-run",
            version="2",
            metrics={"roc_auc": 0.95},
            lineage={"mlops.git_commit": "def456", "mlops.params_sha256": "p2"},
        ),
        gates=gates,
        comparison=compare_metrics({"roc_auc": 0.91}, {"roc_auc": 0.95}, LOWER_IS_BETTER),
        message="failed: roc_auc vs champion",
    )


def test_markdown_lists_every_gate_comparison_and_both_lineages() -> None:
    record = sample_record()
    text = to_markdown(record)
    assert text.startswith("# Promotion decision: REJECTED")
    for result in record.gates:
        verdict = "pass" if result.passed else "**FAIL**"
        assert any(
            line.startswith(f"| {result.name} |") and line.endswith(f"| {verdict} |")
            for line in text.splitlines()
        ), result.name
    assert "| roc_auc | 0.9100 | 0.9500 | -0.0400 | no |" in text
    assert "| run | cand-run | champ-run |" in text
    assert "| mlops.git_commit | abc123 | def456 |" in text
    # a key only one side has is shown with a dash on the other
    assert "| mlops.data.train_md5 | c1 | - |" in text
    assert "| mlops.params_sha256 | - | p2 |" in text


def test_record_json_round_trips() -> None:
    record = sample_record()
    again = DecisionRecord.model_validate(record.to_json())
    assert again == record
    assert not again.accepted


# --------------------------------------------------------------------------- lock


def store_with(uri: str, root: Path) -> Store:
    return Store(TrackingSettings(uri=uri), root=root)


def test_lock_sits_beside_the_sqlite_store(tmp_path: Path) -> None:
    path = lock_path(store_with(f"sqlite:///{tmp_path}/store/mlflow.db", tmp_path / "project"))
    assert path.parent == tmp_path / "store"
    assert path.name.startswith(".mlflow.db.")
    # a relative SQLite path is the project's: the lock sits beside it, whatever the cwd
    relative = lock_path(store_with("sqlite:///store/mlflow.db", tmp_path))
    assert relative == path
    # a server has no file to sit beside: the lock is in the project's .mlops/
    server = lock_path(store_with("http://mlflow:5000", tmp_path / "project"))
    assert server.parent == tmp_path / "project" / ".mlops"


def test_a_held_lock_makes_the_second_promotion_fail_clearly(tmp_path: Path) -> None:
    store = store_with(f"sqlite:///{tmp_path}/mlflow.db", tmp_path)
    with (
        promotion_lock(store),
        pytest.raises(PromotionConflictError, match="promotion in progress"),
        promotion_lock(store, timeout=0.2),
    ):
        pass
    with promotion_lock(store, timeout=0.2):  # released: free again
        pass


def test_a_lock_that_cannot_be_created_is_an_expected_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    store = store_with(f"sqlite:///{tmp_path}/file/mlflow.db", tmp_path)
    with (
        pytest.raises(PromotionConflictError, match="cannot create the promotion lock"),
        promotion_lock(store, timeout=0.2),
    ):
        pass
