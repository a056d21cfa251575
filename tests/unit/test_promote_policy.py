"""The promotion policy as pure functions: metric comparison, regression, signatures, records."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import pytest

from mlops.config import GateParams, Threshold, TrackingSettings
from mlops.errors import PromotionConflictError
from mlops.evaluate import LOWER_IS_BETTER
from mlops.gates import GateResult
from mlops.promote.lock import lock_path, promotion_lock
from mlops.promote.policy import (
    compare_metrics,
    comparison_checks,
    effective_mode,
    guard_metrics,
    regression_check,
    signature_changes,
    tolerances,
    unknown_guards,
)
from mlops.promote.record import DecisionRecord, ModelSide, to_markdown
from mlops.tracking import Store

Mode = Literal["absolute", "relative", "auto"]


def gate(tolerance: float, mode: Mode = "absolute") -> GateParams:
    return GateParams(max_regression=tolerance, regression_mode=mode)


def gated(*names: str, guard: list[str] | None = None, mode: Mode = "auto") -> GateParams:
    """Gates on `names` (bounds nobody fails here), tolerance 0.01."""
    return GateParams(
        metrics={name: Threshold(min=-1e9) for name in names},
        max_regression=0.01,
        regression_mode=mode,
        guard=guard,
    )


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


# --------------------------------------------------------------------------- auto mode


@pytest.mark.parametrize(
    ("metric", "mode"),
    [("rmse", "relative"), ("mae", "relative"), ("r2", "absolute"), ("roc_auc", "absolute"),
     ("log_loss", "absolute"), ("average_precision", "absolute")],
)  # fmt: skip
def test_auto_mode_is_relative_for_error_metrics_in_target_units(metric: str, mode: str) -> None:
    assert effective_mode(metric, gate(0.01, "auto")) == mode
    # an explicit mode applies to every metric
    assert effective_mode(metric, gate(0.01, "absolute")) == "absolute"
    assert effective_mode(metric, gate(0.01, "relative")) == "relative"


def test_auto_rmse_tolerance_is_a_share_of_the_champion_rmse_not_target_units() -> None:
    """0.01 of a price RMSE of 549 is 5.49 (1%), not one cent."""
    champion = {"rmse": 549.0}
    within = regression_check(
        "rmse", {"rmse": 554.0}, champion, gate(0.01, "auto"), LOWER_IS_BETTER
    )
    beyond = regression_check(
        "rmse", {"rmse": 555.0}, champion, gate(0.01, "auto"), LOWER_IS_BETTER
    )
    cents = regression_check(
        "rmse", {"rmse": 549.02}, champion, gate(0.01, "absolute"), LOWER_IS_BETTER
    )
    assert within.passed and not beyond.passed
    assert within.threshold == "<= 554.49 (champion 549 + 0.01 relative = 5.49)"
    assert not cents.passed  # absolute: two cents worse already fails
    # while a unit-free metric keeps the absolute tolerance under auto
    r2 = regression_check("r2", {"r2": 0.975}, {"r2": 0.981}, gate(0.01, "auto"), LOWER_IS_BETTER)
    assert r2.passed and r2.threshold == ">= 0.971 (champion 0.981 - 0.01 absolute)"


# --------------------------------------------------------------------------- guard metrics


def test_guards_default_to_every_gated_metric_except_the_primary() -> None:
    params = gated("accuracy", "roc_auc", "balanced_accuracy")
    assert guard_metrics(params, "roc_auc") == ["accuracy", "balanced_accuracy"]
    # the primary need not be gated: then every gated metric is a guard
    assert guard_metrics(params, "average_precision") == [
        "accuracy", "roc_auc", "balanced_accuracy"
    ]  # fmt: skip


def test_explicit_guards_replace_the_default_and_an_empty_list_turns_them_off() -> None:
    only = gated("accuracy", "roc_auc", guard=["log_loss", "log_loss", "roc_auc"])
    assert guard_metrics(only, "roc_auc") == ["log_loss"]  # once each; the primary is not repeated
    assert guard_metrics(gated("accuracy", "roc_auc", guard=[]), "roc_auc") == []


def test_unknown_guards_are_named() -> None:
    params = gated("accuracy", guard=["acuracy", "roc_auc"])
    assert unknown_guards(params, {"accuracy", "roc_auc"}) == ["acuracy"]
    assert unknown_guards(gated("accuracy"), {"roc_auc"}) == []  # default: the gates themselves


#: A candidate that improves the primary metric and is worse on every other one.
PRIMARY_ONLY_CANDIDATE = {
    "roc_auc": 0.97, "accuracy": 0.93, "balanced_accuracy": 0.60, "log_loss": 0.40,
    "minority_recall": 0.20,
}  # fmt: skip
CHAMPION = {
    "roc_auc": 0.95, "accuracy": 0.96, "balanced_accuracy": 0.85, "log_loss": 0.20,
    "minority_recall": 0.70,
}  # fmt: skip


def test_better_primary_does_not_excuse_worse_guards() -> None:
    params = gated("accuracy", "balanced_accuracy", "log_loss", "minority_recall")
    results = comparison_checks(
        "roc_auc", PRIMARY_ONLY_CANDIDATE, CHAMPION, params, LOWER_IS_BETTER
    )
    by_name = {r.name: r for r in results}
    assert list(by_name) == [
        "roc_auc vs champion",
        "accuracy vs champion",
        "balanced_accuracy vs champion",
        "log_loss vs champion",
        "minority_recall vs champion",
    ]
    assert by_name["roc_auc vs champion"].passed
    assert [r.name for r in results if not r.passed] == list(by_name)[1:]
    assert by_name["log_loss vs champion"].threshold == "<= 0.21 (champion 0.2 + 0.01 absolute)"
    assert by_name["accuracy vs champion"].value == 0.93


def test_guards_only_reject_regressions_beyond_the_tolerance() -> None:
    candidate = {"roc_auc": 0.97, "accuracy": 0.955, "balanced_accuracy": 0.90}
    results = comparison_checks(
        "roc_auc", candidate, CHAMPION, gated("accuracy", "balanced_accuracy"), LOWER_IS_BETTER
    )
    assert all(r.passed for r in results)  # accuracy 0.005 worse: within 0.01


def test_a_guard_missing_on_one_side_fails() -> None:
    results = comparison_checks(
        "roc_auc", {"roc_auc": 0.97}, CHAMPION, gated("accuracy"), LOWER_IS_BETTER
    )
    assert [(r.name, r.passed, r.threshold) for r in results][1] == (
        "accuracy vs champion", False, "comparable metric"
    )  # fmt: skip


def test_auto_guards_mix_relative_and_absolute_tolerances() -> None:
    params = gated("r2", "rmse", "mae")
    champion = {"r2": 0.90, "rmse": 200.0, "mae": 150.0}
    candidate = {"r2": 0.905, "rmse": 201.5, "mae": 152.0}  # rmse +0.75%, mae +1.33%
    results = {
        r.name: r for r in comparison_checks("r2", candidate, champion, params, LOWER_IS_BETTER)
    }
    assert results["r2 vs champion"].passed
    assert (
        results["rmse vs champion"].passed and "relative" in results["rmse vs champion"].threshold
    )
    assert not results["mae vs champion"].passed
    assert tolerances("r2", params) == {
        "max_regression": 0.01,
        "mode": "auto",
        "modes": {"r2": "absolute", "rmse": "relative", "mae": "relative"},
    }


def test_tolerances_show_each_compared_metric_with_its_effective_mode() -> None:
    params = gated("accuracy", "roc_auc", mode="relative")
    assert tolerances("roc_auc", params)["modes"] == {"roc_auc": "relative", "accuracy": "relative"}
    assert tolerances("roc_auc", gated("accuracy", guard=[]))["modes"] == {"roc_auc": "absolute"}


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


def test_markdown_shows_effective_modes_guards_and_notes() -> None:
    record = sample_record()
    record.primary_metric = "rmse"
    record.tolerance = tolerances("rmse", gated("rmse", "r2", "mae"))
    record.notes = ["the model predicts a single class ('No') for every row"]
    text = to_markdown(record)
    assert "- primary metric: `rmse` (max regression 0.01 relative)" in text
    assert "- guard metrics (may not regress either): `r2` (absolute), `mae` (relative)" in text
    assert "- note: the model predicts a single class ('No') for every row" in text
    assert DecisionRecord.model_validate(record.to_json()).notes == record.notes


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
