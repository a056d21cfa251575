"""Train/test split: stratified, seeded, by an ordering column; the stage and its order checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import open_project
from mlops.config import DataParams, SplitParams
from mlops.data import ingest, load_split, split, split_frame, split_xy
from mlops.data.schema import infer_schema
from mlops.errors import DataError, StageOrderError


def _labelled(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    # Imbalanced on purpose: 70% a, 20% b, 10% c.
    labels = np.array(["a"] * 140 + ["b"] * 40 + ["c"] * 20)[:rows]
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "x": rng.normal(size=rows),
            "when": pd.date_range("2024-01-01", periods=rows, freq="D")[::-1],
            "label": labels,
        }
    )


def _share(frame: pd.DataFrame) -> dict[str, float]:
    return {str(k): float(v) for k, v in frame["label"].value_counts(normalize=True).items()}


def test_stratified_split_keeps_class_shares() -> None:
    frame = _labelled()
    train, test = split_frame(frame, "label", "classification", SplitParams(test_size=0.25))
    assert (len(train), len(test)) == (150, 50)
    assert _share(test) == pytest.approx({"a": 0.7, "b": 0.2, "c": 0.1})
    assert _share(train) == pytest.approx({"a": 0.7, "b": 0.2, "c": 0.1})
    # Every row lands in exactly one side.
    assert sorted([*train["id"], *test["id"]]) == list(range(200))
    assert list(train.index) == list(range(150))  # a clean index, not the original positions


def test_same_seed_same_split_other_seed_other_split() -> None:
    frame = _labelled()
    first, _ = split_frame(frame, "label", "classification", SplitParams(seed=7))
    again, _ = split_frame(frame, "label", "classification", SplitParams(seed=7))
    other, _ = split_frame(frame, "label", "classification", SplitParams(seed=8))
    assert first["id"].tolist() == again["id"].tolist()
    assert first["id"].tolist() != other["id"].tolist()


def test_unstratified_regression_split() -> None:
    frame = _labelled().assign(target=lambda f: f["x"] * 2)
    train, test = split_frame(frame, "target", "regression", SplitParams(test_size=0.1))
    assert (len(train), len(test)) == (180, 20)


def test_stratify_needs_two_rows_per_class() -> None:
    frame = _labelled(20)
    frame.loc[0, "label"] = "lonely"
    with pytest.raises(DataError, match=r"class 'lonely' of 'label' has a single row"):
        split_frame(frame, "label", "classification", SplitParams())
    train, test = split_frame(frame, "label", "classification", SplitParams(stratify=False))
    assert len(train) + len(test) == 20


def test_too_small_test_split_for_the_classes_is_a_data_error() -> None:
    frame = _labelled(200)
    with pytest.raises(DataError, match=r"^split: "):
        split_frame(frame, "label", "classification", SplitParams(test_size=0.01))


def test_order_by_puts_the_latest_rows_in_test() -> None:
    frame = _labelled()
    train, test = split_frame(
        frame, "label", "classification", SplitParams(order_by="when", test_size=0.1)
    )
    assert len(test) == 20
    assert train["when"].max() < test["when"].min()
    assert test["when"].is_monotonic_increasing
    # Ordering wins over stratification and the seed: the split is deterministic.
    again, _ = split_frame(
        frame, "label", "classification", SplitParams(order_by="when", test_size=0.1, seed=99)
    )
    assert train["id"].tolist() == again["id"].tolist()


def test_order_by_errors() -> None:
    with pytest.raises(DataError, match=r"split\.order_by: column 'nope' not found"):
        split_frame(_labelled(), "label", "classification", SplitParams(order_by="nope"))
    with pytest.raises(DataError, match=r"1 rows are too few to split"):
        split_frame(_labelled(1), "label", "classification", SplitParams(order_by="when"))


def test_split_xy_selects_the_contract_columns() -> None:
    frame = _labelled()
    schema = infer_schema(frame, DataParams(target="label", drop=["id"]), "t")
    features, target = split_xy(frame, schema)
    assert list(features.columns) == schema.features
    assert target.name == "label"
    with pytest.raises(DataError, match=r"dataset is missing column\(s\): x, label"):
        split_xy(frame.drop(columns=["x", "label"]), schema)


# --------------------------------------------------------------------------- the stage


def test_split_stage_needs_ingest_first(project: Path) -> None:
    with pytest.raises(StageOrderError, match=r"run `mlops data ingest` first"):
        split(open_project())


def test_load_split_before_split_says_which_command_to_run(project: Path) -> None:
    with pytest.raises(StageOrderError) as caught:
        load_split(open_project(), "train")
    assert "train split not found; run `mlops data split` first" in str(caught.value)


def test_split_stage_drops_unlabelled_rows_and_writes_parquet(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = _labelled()
    data.loc[[0, 1, 2], "label"] = None
    data.to_csv(project / "input.csv", index=False)
    opened = open_project(None, "data.source=input.csv", "data.target=label")
    ingest(opened)
    result = split(opened)
    assert result.dropped_rows == 3
    assert result.train_rows + result.test_rows == 197
    assert "dropped 3 row(s) with a missing target 'label'" in caplog.text
    train = load_split(opened, "train")
    test = load_split(opened, "test")
    assert len(train) == result.train_rows
    assert len(test) == result.test_rows
    assert train["label"].notna().all()
    assert set(train["id"]).isdisjoint(set(test["id"]))
    # Rerunning with the same params writes byte-identical files (what DVC relies on).
    before = (result.train_path.read_bytes(), result.test_path.read_bytes())
    split(opened)
    assert (result.train_path.read_bytes(), result.test_path.read_bytes()) == before


def test_unlabelled_rows_are_recorded_in_the_contract_and_shown(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Rows with a missing target were dropped at split with only a log line: the contract
    records how many, and validate, split and the card say so."""
    import json

    from typer.testing import CliRunner

    from mlops.cli.main import app

    data = _labelled()
    data.loc[[0, 5, 9, 11], "label"] = None
    data.to_csv(project / "input.csv", index=False)
    sets = ["--set", "data.source=input.csv", "--set", "data.target=label"]
    runner = CliRunner()
    ingested = runner.invoke(app, [*sets, "data", "ingest"])
    assert ingested.exit_code == 0, ingested.output
    assert "4 of 200 row(s) have no value in target 'label'" in caplog.text
    contract = json.loads((project / "data" / "schema.json").read_text())
    assert contract["unlabelled_rows"] == 4
    validated = runner.invoke(app, [*sets, "data", "validate"])
    assert validated.exit_code == 0, validated.output
    assert "(200 rows; 4 without a target, " in validated.output
    report = json.loads((project / "reports" / "validation.json").read_text())
    assert report["unlabelled_rows"] == 4 and report["passed"]
    done = runner.invoke(app, [*sets, "data", "split"])
    assert done.exit_code == 0, done.output
    assert done.output.rstrip().endswith("; 4 rows without a target dropped")
    assert (
        len(load_split(open_project(None, *sets[1::2]), "train"))
        + len(load_split(open_project(None, *sets[1::2]), "test"))
        == 196
    )


def test_a_fully_labelled_contract_records_no_unlabelled_rows(project: Path) -> None:
    opened = open_project()
    assert ingest(opened).schema.unlabelled_rows == 0
