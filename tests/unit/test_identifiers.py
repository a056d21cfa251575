"""Identifier columns: row numbers and keys are recorded in the contract, never used as features
unless `data.features` lists them, and never taken for a measurement (no false positives)."""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops.config import DataParams, Task
from mlops.data import infer_schema, validate_frame
from mlops.data.identifiers import MIN_ID_ROWS, UNIQUE_INT_ROWS, identifier_reason, name_reason
from mlops.data.ingest import BUILTIN_DATASETS
from mlops.errors import DataError

ROWS = 200


def _frame(**extra: Any) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "size": rng.normal(10, 2, ROWS),
            "colour": rng.choice(["red", "blue"], ROWS),
            "label": np.repeat(["a", "b"], ROWS // 2),  # sorted by the target, as R exports
        }
    )
    for name, values in extra.items():
        frame[name] = values
    return frame


PARAMS = DataParams(source="t.csv", target="label")


@pytest.mark.parametrize(
    ("name", "values", "expected"),
    [
        ("Unnamed: 0", np.arange(1, ROWS + 1), r"named 'Unnamed: 0'"),  # R's "" header, pandas
        ("...1", np.arange(1, ROWS + 1), r"named '\.\.\.1'"),  # readr's name for it
        ("rownames", np.arange(1, ROWS + 1), r"named 'rownames'"),
        ("index", np.arange(ROWS), r"named 'index'"),
        ("ID", [f"c{i}" for i in range(ROWS)], r"named 'ID'"),
        ("id", np.arange(ROWS) % 7, r"named 'id'"),  # exactly `id`: always a key
        ("customer_id", np.arange(ROWS) * 2 // 3, r"like a key, with 133 distinct values in 200"),
        ("customerId", np.arange(ROWS)[::-1], r"like a key"),
        ("row", np.arange(ROWS), r"a row number: 0\.\.199 in file order"),
        ("n", np.arange(1, ROWS + 1), r"a row number: 1\.\.200 in file order"),
        ("code", [f"k{i:04d}" for i in range(ROWS)], r"a unique key: all 200 values"),
    ],
)
def test_row_numbers_and_keys_are_identifiers(name: str, values: object, expected: str) -> None:
    frame = _frame(**{name: values})
    reason = identifier_reason(name, frame[name], "label")
    assert reason is not None
    assert re.search(expected, reason), reason
    schema = infer_schema(frame, PARAMS, "t.csv")
    assert name not in schema.features
    column = schema.column(name)
    assert column.role == "identifier"
    assert column.excluded_reason == reason
    assert schema.identifiers() == {name: reason}
    assert schema.features == ["size", "colour"]


@pytest.mark.parametrize(
    ("name", "values"),
    [
        # Measurements: floats are never keys, even all-distinct and in order.
        ("weight", np.linspace(0.0, 199.0, ROWS)),
        ("id_score", np.arange(ROWS, dtype=float)),
        # Repeated integers (a year, a count) are not keys.
        ("year", np.repeat([2007, 2008, 2009, 2010], ROWS // 4)),
        # A foreign key with few values (a store): a category, not a row key.
        ("store_id", np.arange(ROWS) % 5),
        # All-distinct integers under UNIQUE_INT_ROWS rows, not 0..n-1/1..n in order: could be
        # a measurement in fine units (income in dollars), so kept.
        ("income", np.random.default_rng(0).permutation(np.arange(ROWS) * 37 + 1000)),
        # A shuffled 1..n (a rank) is not a row number in file order.
        ("rank", np.random.default_rng(0).permutation(np.arange(1, ROWS + 1))),
        # Starting elsewhere than 0 or 1: not a row index.
        ("step", np.arange(5, ROWS + 5)),
        ("flag", np.tile([True, False], ROWS // 2)),
        ("grade", pd.Categorical([f"g{i}" for i in range(ROWS)])),  # declared categorical
        ("paid", np.arange(ROWS) % 3),  # ends in "id" but is not `*_id`
    ],
)
def test_measurements_and_categories_are_not_identifiers(name: str, values: object) -> None:
    frame = _frame(**{name: values})
    assert identifier_reason(name, frame[name], "label") is None
    schema = infer_schema(frame, PARAMS, "t.csv")
    assert schema.identifiers() == {}
    column = schema.column(name)
    if column.kind == "text":  # 200 distinct categories: too many to one-hot, not a key
        assert (column.role, name in schema.features) == ("excluded", False)
    else:
        assert (column.role, name in schema.features) == ("feature", True)


def test_value_rules_need_a_minimum_row_count() -> None:
    small = pd.Series(np.arange(1, MIN_ID_ROWS))  # 1..n but under MIN_ID_ROWS rows
    assert identifier_reason("rooms", small) is None
    assert identifier_reason("rooms", pd.Series(np.arange(1, MIN_ID_ROWS + 1))) is not None
    words = pd.Series([f"w{i}" for i in range(MIN_ID_ROWS - 1)])
    assert identifier_reason("word", words) is None
    # A name alone needs no minimum: R's row names in a 4-row file are still row names.
    assert identifier_reason("Unnamed: 0", pd.Series([1, 2, 3, 4])) is not None


def test_all_distinct_integers_over_many_rows_are_a_key() -> None:
    keys = np.random.default_rng(0).choice(10**9, UNIQUE_INT_ROWS, replace=False)
    assert identifier_reason("account", pd.Series(keys)) == (
        f"a unique key: all {UNIQUE_INT_ROWS} integers are distinct"
    )
    assert identifier_reason("account", pd.Series(keys[:-1])) is None
    repeated = np.concatenate([keys[:-1], keys[:1]])  # one repeat: not a key
    assert identifier_reason("account", pd.Series(repeated)) is None


def test_missing_values_rule_out_a_value_based_key() -> None:
    values = pd.Series(np.arange(ROWS), dtype="Int64")
    assert identifier_reason("row", values) is not None
    values[5] = pd.NA
    assert identifier_reason("row", values) is None


def test_the_target_is_never_an_identifier() -> None:
    frame = pd.DataFrame({"x": np.linspace(0, 1, ROWS), "price": np.arange(ROWS)})
    schema = infer_schema(frame, DataParams(target="price", task="regression"), "t")
    assert schema.column("price").role == "target"
    assert schema.column("price").excluded_reason is None
    assert schema.features == ["x"]


def test_name_reason() -> None:
    assert name_reason("") == "named an empty name, like a row number or key"
    for name in ("Unnamed: 0", "Unnamed: 3", "rownames", "row.names", "INDEX", " id ", "...2"):
        assert name_reason(name) is not None, name
    for name in ("x", "X", "idx", "ideal", "video", "identity", "rowsum", "unnamed"):
        assert name_reason(name) is None, name


def test_data_features_overrides_and_data_drop_still_drops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    frame = _frame(rownames=np.arange(1, ROWS + 1))
    with caplog.at_level(logging.WARNING):
        listed = infer_schema(
            frame, PARAMS.model_copy(update={"features": ["rownames", "size"]}), "t"
        )
    assert listed.features == ["rownames", "size"]
    assert listed.column("rownames").role == "feature"
    assert listed.column("colour").role == "excluded"
    assert listed.column("colour").excluded_reason == "not listed in data.features"
    assert "'rownames' looks like an identifier" in caplog.text

    dropped = infer_schema(frame, PARAMS.model_copy(update={"drop": ["rownames"]}), "t")
    assert dropped.features == ["size", "colour"]
    assert "rownames" not in dropped.features


def test_ingest_warns_which_column_it_left_out(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        infer_schema(_frame(**{"Unnamed: 0": np.arange(1, ROWS + 1)}), PARAMS, "t")
    assert "column 'Unnamed: 0' is not used as a feature" in caplog.text
    assert "data.features" in caplog.text


def test_every_column_says_what_it_is_for() -> None:
    frame = _frame(
        rownames=np.arange(1, ROWS + 1),
        when=pd.date_range("2024-01-01", periods=ROWS, freq="h"),
        note=[f"free text {i} " * 3 for i in range(ROWS)],
        junk=np.ones(ROWS),
    )
    schema = infer_schema(frame, PARAMS.model_copy(update={"drop": ["junk"]}), "t")
    roles = {c.name: (c.role, c.excluded_reason) for c in schema.columns}
    assert roles["label"] == ("target", None)
    assert roles["size"] == ("feature", None)
    assert roles["rownames"] == ("identifier", "named 'rownames', like a row number or key")
    assert roles["junk"] == ("excluded", "listed in data.drop")
    assert roles["when"] == ("excluded", "date/time values are not used as features")
    # All-distinct strings are a key as well as text: the identifier role wins.
    assert roles["note"][0] == "identifier"


def test_only_identifiers_left_says_so() -> None:
    frame = pd.DataFrame({"Unnamed: 0": np.arange(1, 61), "label": ["a", "b"] * 30})
    with pytest.raises(
        DataError,
        match=r"no usable feature columns besides target 'label' "
        r"\(identifier columns not used: Unnamed: 0; list one in data\.features",
    ):
        infer_schema(frame, PARAMS, "t.csv")


def test_validate_does_not_check_the_range_of_new_keys() -> None:
    frame = _frame(row=np.arange(ROWS))
    schema = infer_schema(frame, PARAMS, "t.csv")
    batch = _frame(row=np.arange(ROWS) + 10_000)  # tomorrow's rows: new numbers
    report = validate_frame(batch, schema, "batch.csv", "schema.json")
    assert report.passed, report.violations
    # ...but an ordinary numeric column's range still is.
    batch["size"] = batch["size"] * 100
    report = validate_frame(batch, schema, "batch.csv", "schema.json")
    assert {v.column for v in report.violations} == {"size"}


@pytest.mark.parametrize("name", sorted(BUILTIN_DATASETS))
def test_builtin_datasets_keep_every_feature(name: str) -> None:
    frame = BUILTIN_DATASETS[name]()
    frame.columns = [str(c) for c in frame.columns]
    target = "species" if name == "penguins" else "target"
    task: Task = "regression" if name == "diabetes" else "classification"
    schema = infer_schema(frame, DataParams(source=name, target=target, task=task), name)
    assert schema.identifiers() == {}
    assert schema.features == [c for c in frame.columns if c != target]
    if name == "penguins":
        assert "year" in schema.features
