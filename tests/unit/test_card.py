"""The model card's pure pieces: bootstrap intervals, slices, permutation importance, HTML."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.card import bootstrap_ci, explain_rows, permutation_importances, reference_values
from mlops.card._metrics import metric_fn
from mlops.card.render import to_html
from mlops.card.slices import OTHER, REDACTED, slice_groups, slice_report


def _noisy_labels(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.choice(["a", "b"], size=n)
    flip = rng.random(n) < 0.2
    predicted = np.where(flip, np.where(truth == "a", "b", "a"), truth)
    return truth, predicted


@pytest.mark.parametrize("name", ["accuracy", "balanced_accuracy", "f1_macro"])
def test_bootstrap_interval_contains_the_estimate_and_shrinks_with_n(name: str) -> None:
    fn = metric_fn(name, "classification", ["a", "b"])
    widths = []
    for n in (100, 2000):
        truth, predicted = _noisy_labels(n)
        ci = bootstrap_ci(name, fn, truth, predicted, resamples=200, seed=1)
        assert ci.low <= ci.value <= ci.high
        assert ci.resamples == 200
        widths.append(ci.high - ci.low)
    assert widths[1] < widths[0] / 2


def test_bootstrap_is_seeded_and_matches_sklearn_per_resample() -> None:
    truth, predicted = _noisy_labels(300)
    fn = metric_fn("balanced_accuracy", "classification", ["a", "b"])
    first = bootstrap_ci("balanced_accuracy", fn, truth, predicted, seed=7)
    again = bootstrap_ci("balanced_accuracy", fn, truth, predicted, seed=7)
    assert first == again
    # The vectorized path and a plain loop over sklearn give the same interval.
    loop = bootstrap_ci("custom", fn, truth, predicted, seed=7)
    assert loop.low == pytest.approx(first.low) and loop.high == pytest.approx(first.high)


def test_bootstrap_roc_auc_vectorized_matches_sklearn() -> None:
    rng = np.random.default_rng(3)
    truth = rng.choice(["x", "y", "z"], size=200)
    proba = rng.dirichlet([1, 1, 1], size=200)
    proba[np.arange(200), np.searchsorted(["x", "y", "z"], truth)] += 1.0
    proba /= proba.sum(axis=1, keepdims=True)
    fn = metric_fn("roc_auc", "classification", ["x", "y", "z"])
    fast = bootstrap_ci("roc_auc", fn, truth, truth, proba, seed=2)
    slow = bootstrap_ci("slow", lambda y, p, pr: fn(y, p, pr), truth, truth, proba, seed=2)
    assert fast.value == pytest.approx(slow.value)
    assert fast.low == pytest.approx(slow.low) and fast.high == pytest.approx(slow.high)


def test_bootstrap_regression_interval() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=500)
    predicted = truth + rng.normal(scale=0.3, size=500)
    for name in ("rmse", "mae", "r2"):
        ci = bootstrap_ci(name, metric_fn(name, "regression"), truth, predicted, seed=0)
        assert ci.low <= ci.value <= ci.high


def test_slice_groups_count_and_group_small_levels() -> None:
    values = pd.Series(["a"] * 50 + ["b"] * 40 + ["c"] * 5 + ["d"] * 3 + [None] * 2)
    groups = slice_groups(values, numeric=False, min_count=10)
    counts = groups.value_counts().to_dict()
    assert counts == {"a": 50, "b": 40, OTHER: 10}


def test_slice_groups_redact_personal_levels() -> None:
    values = pd.Series(["alice"] * 40 + ["bob"] * 35)
    groups = slice_groups(values, numeric=False, min_count=10, redact=True)
    assert set(groups) == {f"{REDACTED}#1", f"{REDACTED}#2"}
    binned = slice_groups(pd.Series(np.arange(100.0)), numeric=True, min_count=10, redact=True)
    assert all(label.startswith(REDACTED) for label in binned)


def test_slice_report_counts_worst_slices_and_gaps() -> None:
    n = 400
    rng = np.random.default_rng(0)
    group = np.where(np.arange(n) < 200, "good", "bad")
    truth = rng.choice(["a", "b"], size=n)
    wrong = (group == "bad") & (rng.random(n) < 0.4)
    predicted = np.where(wrong, np.where(truth == "a", "b", "a"), truth)
    features = pd.DataFrame(
        {"group": group, "tiny": ["t"] * 5 + ["u"] * (n - 5), "x": rng.normal(size=n)}
    )
    fn = metric_fn("accuracy", "classification", ["a", "b"])
    report = slice_report(
        features, truth, predicted, "accuracy", lambda y, p: fn(y, p, None),
        lower_is_better=False, categorical=["group", "tiny"], numeric=["x"],
        sensitive=["group"], min_count=30,
    )  # fmt: skip
    by_level = {(r.column, r.level): r for r in report.rows}
    assert by_level[("group", "good")].count == 200
    assert by_level[("group", "good")].value == 1.0
    assert by_level[("tiny", OTHER)].count == 5  # grouped, and below min_count
    assert sum(1 for r in report.rows if r.column == "x") == 4  # quartile bins
    assert report.worst(1)[0].level == "bad"
    assert OTHER not in [r.level for r in report.worst(10)]
    (gap,) = report.gaps
    assert gap.column == "group" and gap.best == "good" and gap.worst == "bad"
    assert gap.gap == pytest.approx(1.0 - by_level[("group", "bad")].value)


def test_noise_feature_ranks_below_the_informative_one() -> None:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    n = 400
    signal = rng.normal(size=n)
    frame = pd.DataFrame({"noise": rng.normal(size=n), "signal": signal})
    target = pd.Series(np.where(signal > 0, "yes", "no"))
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(frame, target)
    ranked = permutation_importances(model, frame, target, "balanced_accuracy", seed=0)
    assert [i.feature for i in ranked] == ["signal", "noise"]
    assert ranked[0].mean > 0.3 and ranked[1].mean < 0.05
    assert all(i.std >= 0 for i in ranked)
    again = permutation_importances(model, frame, target, "balanced_accuracy", seed=0)
    assert again == ranked


def test_explain_rows_credits_the_informative_feature() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"noise": rng.normal(size=300), "signal": rng.normal(size=300)})
    target = np.where(frame["signal"] > 0, "yes", "no")
    model = LogisticRegression().fit(frame, target)
    reference = reference_values(frame, ["noise", "signal"])
    rows = pd.DataFrame({"noise": [0.1, -0.2], "signal": [3.0, -3.0]})
    explained = explain_rows(model, rows, reference, top=2)
    assert [e.prediction for e in explained] == ["yes", "no"]
    for row in explained:
        assert row.top[0].feature == "signal" and row.top[0].contribution > 0.3


def test_html_is_self_contained(tmp_path: Path) -> None:
    plot = tmp_path / "importance.png"
    plot.write_bytes(b"\x89PNG fake")
    markdown = (
        "# Card\n\n<script>alert(1)</script>\n\n![plot](importance.png)\n\n"
        "[diagram](model_diagram.html) [x](https://example.com) ![y](http://evil/a.png)\n\n"
        "| a | b |\n| --- | --- |\n| 1 | 2 |\n"
    )
    page = to_html(markdown, "Card", {"importance.png": plot})
    assert "<script" not in page.lower()
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert 'src="data:image/png;base64,' in page
    assert "<table>" in page and 'href="model_diagram.html"' in page


def test_importance_scores_string_labelled_rare_binary_with_average_precision() -> None:
    from sklearn.linear_model import LogisticRegression

    from mlops.card._metrics import importance_metric, scorer

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"noise": rng.normal(size=600), "signal": rng.normal(size=600)})
    target = pd.Series(np.where(frame["signal"] > 1.4, "Yes", "No"))  # ~8% positive
    model = LogisticRegression().fit(frame, target)
    name = importance_metric("average_precision", "classification", 2)
    score = scorer(name, "classification", list(model.classes_))
    ranked = permutation_importances(model, frame, target, score, seed=0)
    assert ranked[0].feature == "signal" and ranked[0].mean > ranked[1].mean
    assert importance_metric("average_precision", "classification", 3) == "balanced_accuracy"


def test_slice_gate_needs_sensitive_columns() -> None:
    from mlops.config import Params, check_params

    gated = Params.model_validate({"gate": {"slices": {"max_gap": 0.1}}})
    assert any(p.startswith("gate.slices:") for p in check_params(gated))
    named = Params.model_validate(
        {"gate": {"slices": {"max_gap": 0.1}}, "card": {"sensitive": ["island"]}}
    )
    assert check_params(named) == []
    target = Params.model_validate({"card": {"sensitive": ["species"]}})
    assert any(p.startswith("card.sensitive:") for p in check_params(target))


def test_tree_shap_sums_one_hot_levels_back_onto_their_column() -> None:
    """SHAP (the `shap` extra, installed with dev) on a preprocessing + tree pipeline: the signal
    column outranks noise, the one-hot levels of a categorical are one row, in input names."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from mlops.card.tree_shap import shap_summary

    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(
        {
            "signal": rng.normal(size=n),
            "noise": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n),
        }
    )
    target = np.where(frame["signal"] + (frame["colour"] == "red") * 2.0 > 0.5, "yes", "no")
    features = ColumnTransformer(
        [
            ("numeric", StandardScaler(), ["signal", "noise"]),
            ("categorical", OneHotEncoder(sparse_output=False), ["colour"]),
        ]
    )
    model = Pipeline(
        [("features", features), ("model", HistGradientBoostingClassifier(random_state=0))]
    ).fit(frame, target)
    summary = shap_summary(model, frame, max_rows=200, seed=0)
    assert summary.reason is None and summary.rows == 200
    ranked = [name for name, _ in summary.features]
    assert sorted(ranked) == ["colour", "noise", "signal"]
    assert ranked[-1] == "noise"
    values = dict(summary.features)
    assert min(values["colour"], values["signal"]) > 5 * values["noise"]
    assert shap_summary(model, frame, max_rows=200, seed=0).features == summary.features


def test_tree_shap_says_why_when_the_model_is_not_a_tree() -> None:
    from sklearn.linear_model import LogisticRegression

    from mlops.card.tree_shap import shap_summary

    frame = pd.DataFrame({"x": np.arange(40.0)})
    model = LogisticRegression().fit(frame, np.arange(40) % 2)
    summary = shap_summary(model, frame, max_rows=50, seed=0)
    assert summary.features == [] and "LogisticRegression is not a tree model" in str(
        summary.reason
    )
