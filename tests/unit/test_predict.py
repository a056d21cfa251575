"""Signature checks, safe coercions and chunked scoring (`mlops.predict`), on small in-test data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from mlops.errors import DataError
from mlops.predict import (
    ColumnSpec,
    InputSchema,
    Scorer,
    TableSource,
    coerce_column,
    output_table,
    score_batches,
)

SIGNATURE = [
    {"name": "city", "type": "string", "required": True},
    {"name": "size", "type": "double", "required": True},
    {"name": "rooms", "type": "long", "required": True},
    {"name": "note", "type": "string", "required": False},
]


@pytest.fixture
def schema() -> InputSchema:
    return InputSchema.from_signature(SIGNATURE)


def _frame(**columns: Any) -> pd.DataFrame:
    base: dict[str, Any] = {"city": ["a", "b"], "size": [1.5, 2.0], "rooms": [1, 2]}
    base.update(columns)
    return pd.DataFrame({k: v for k, v in base.items() if v is not None})


# --------------------------------------------------------------------------- the signature


def test_the_schema_reads_mlflow_signature_inputs(schema: InputSchema) -> None:
    assert schema.names == ("city", "size", "rooms", "note")
    assert schema.columns[3] == ColumnSpec("note", "string", required=False)


@pytest.mark.parametrize(
    "inputs",
    [[], [{"type": "tensor", "tensor-spec": {}}], [{"name": "x", "type": "map"}]],
    ids=["empty", "tensor", "unknown-type"],
)
def test_a_signature_we_cannot_check_is_refused(inputs: list[dict[str, Any]]) -> None:
    with pytest.raises(DataError, match="signature"):
        InputSchema.from_signature(inputs)


def test_every_missing_column_is_named_in_one_error(schema: InputSchema) -> None:
    with pytest.raises(DataError) as caught:
        schema.check_columns(["size", "other"])
    message = str(caught.value)
    assert "missing 2 required columns: city, rooms" in message
    assert "note" not in message.split("(")[0]  # optional columns are not required


def test_extra_columns_are_returned_to_be_ignored(schema: InputSchema) -> None:
    coerced = schema.coerce(_frame(id=[7, 8], extra=["x", "y"]))
    assert coerced.ignored == ("id", "extra")
    assert list(coerced.frame.columns) == ["city", "size", "rooms", "note"]
    assert coerced.frame["note"].isna().all()  # a missing optional column arrives empty


# --------------------------------------------------------------------------- coercions


def test_safe_coercions_keep_every_value(schema: InputSchema) -> None:
    frame = pd.DataFrame(
        {
            "city": pd.Series(["a", None], dtype=object),
            "size": pd.Series([3, 4], dtype="int32"),  # integers -> double: exact
            "rooms": [2008.0, 2009.0],  # whole floats (JSON) -> long: exact
            "note": pd.Categorical(["x", "y"]),  # categories of strings -> string
        }
    )
    out = schema.coerce(frame).frame
    assert out["size"].dtype == np.float64
    assert out["size"].tolist() == [3.0, 4.0]
    assert out["rooms"].dtype == np.int64
    assert out["rooms"].tolist() == [2008, 2009]
    assert out["city"].iloc[0] == "a"
    assert pd.isna(out["city"].iloc[1])
    assert out["note"].tolist() == ["x", "y"]


def test_missing_values_are_counted_per_row(schema: InputSchema) -> None:
    frame = _frame(city=["a", None, "c"], size=[1.0, 2.0, None], rooms=[1, 2, 3])
    assert schema.coerce(frame.assign(note=["x", "y", "z"])).rows_with_missing == 2
    assert schema.coerce(frame).rows_with_missing == 3  # an absent optional column is missing


@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        ("size", ["1.5", "2"], "expected double, got str at row 0"),
        ("size", [True, False], "expected double, got bool"),
        ("size", [1.0, float("inf")], "infinite"),
        ("size", pd.Series([2**60, 1], dtype="int64"), "lose precision"),
        ("rooms", [1.5, 2.0], "fractional"),
        ("rooms", [1.0, None], "missing values in an integer column"),
        ("city", [1, 2], "expected string, got int64"),
        ("city", pd.Series(["a", 3], dtype=object), "got int at row 1"),
    ],
)
def test_unsafe_coercions_are_refused(
    schema: InputSchema, column: str, values: Any, expected: str
) -> None:
    frame = _frame(**{column: values})
    with pytest.raises(DataError, match="does not match the model signature") as caught:
        schema.coerce(frame)
    assert expected in str(caught.value)
    assert f"column {column!r}" in str(caught.value)


def test_all_unsafe_columns_are_reported_together(schema: InputSchema) -> None:
    with pytest.raises(DataError) as caught:
        schema.coerce(_frame(size=["x", "y"], city=[1, 2]))
    assert "'city'" in str(caught.value)
    assert "'size'" in str(caught.value)


def test_errors_name_types_and_rows_but_never_values(schema: InputSchema) -> None:
    with pytest.raises(DataError) as caught:
        schema.coerce(_frame(size=["SECRET-VALUE", "2"]))
    assert "SECRET-VALUE" not in str(caught.value)


def test_no_rows_is_an_error(schema: InputSchema) -> None:
    with pytest.raises(DataError, match="no rows"):
        schema.coerce(_frame().iloc[:0])


# --------------------------------------------------------------------------- JSON values


JSON_COLUMNS = {
    "city": ["a", None, "c"],
    "size": [1, 2.5, None],
    "rooms": [1, 2.0, 3],
    "extra": [[1], {"x": 1}, "anything"],
}


def test_json_values_coerce_exactly_as_a_dataframe_does(schema: InputSchema) -> None:
    wanted = {k: v for k, v in JSON_COLUMNS.items() if k in schema.names}
    from_values = schema.coerce_values(wanted, list(JSON_COLUMNS), rows=3)
    from_frame = schema.coerce(pd.DataFrame(JSON_COLUMNS))
    pd.testing.assert_frame_equal(
        from_values.frame.astype({"city": object}), from_frame.frame.astype({"city": object})
    )
    assert from_values.ignored == from_frame.ignored == ("extra",)
    assert from_values.rows_with_missing == from_frame.rows_with_missing == 3


@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        ("size", ["1.5", 2.0, 3.0], "got str at row 0"),
        ("size", [True, 2.0, 3.0], "got bool at row 0"),
        ("size", [1.0, [2.0], 3.0], "got list at row 1"),
        ("size", [1.0, float("inf"), 3.0], "infinite"),
        ("size", [2**60, 1, 2], "lose precision"),
        ("rooms", [1, 2.5, 3], "fractional"),
        ("rooms", [1, None, 3], "missing values in an integer column"),
        ("rooms", [1, True, 3], "got bool at row 1"),
        ("rooms", [1, 2**70, 3], "outside the long range"),
        ("city", ["a", 2, "c"], "got int at row 1"),
    ],
)
def test_unsafe_json_values_are_refused(
    schema: InputSchema, column: str, values: list[Any], expected: str
) -> None:
    columns = {"city": ["a", "b", "c"], "size": [1.0, 2.0, 3.0], "rooms": [1, 2, 3]}
    columns[column] = values
    with pytest.raises(DataError, match="does not match the model signature") as caught:
        schema.coerce_values(columns, list(columns), rows=3)
    assert expected in str(caught.value)


def test_float_narrowing_is_refused() -> None:
    with pytest.raises(ValueError, match="float64"):
        coerce_column(ColumnSpec("x", "float"), pd.Series([1.0], dtype="float64"))


# --------------------------------------------------------------------------- scoring


def _training_data(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"a": rng.normal(size=rows), "b": rng.normal(size=rows), "c": rng.integers(0, 5, rows)}
    )


NUMERIC = [
    {"name": "a", "type": "double", "required": True},
    {"name": "b", "type": "double", "required": True},
    {"name": "c", "type": "long", "required": True},
]


def test_a_classifiers_labels_are_its_most_probable_class() -> None:
    data = _training_data()
    target = np.where(data["a"] + data["b"] > 0, "yes", "no")
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(data, target)
    scorer = Scorer.from_model(model, NUMERIC)
    labels, proba = scorer.predict_with_proba(data)
    assert scorer.is_classifier
    assert proba is not None
    assert proba.shape == (len(data), 2)
    np.testing.assert_array_equal(labels, model.predict(data))
    assert scorer.argmax_matches_predict(data)


def test_a_regressor_has_no_probabilities() -> None:
    data = _training_data()
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(data, data["a"] * 2)
    scorer = Scorer.from_model(model, NUMERIC)
    labels, proba = scorer.predict_with_proba(data)
    assert not scorer.is_classifier
    assert proba is None
    np.testing.assert_allclose(labels, model.predict(data))


def test_chunked_scoring_equals_scoring_everything_at_once(tmp_path: Path) -> None:
    data = _training_data(1000)
    target = np.where(data["a"] > 0, "up", "down")
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(data, target)
    scorer = Scorer.from_model(model, NUMERIC)
    path = tmp_path / "rows.parquet"
    data.assign(id=np.arange(len(data))).to_parquet(path, row_group_size=300)
    source = TableSource(path)
    assert source.total_rows == 1000
    tables = [t for t, _ in score_batches(scorer, source.batches(scorer.schema, 128), ("m", "3"))]
    assert len(tables) == 8  # ceil(1000 / 128): memory is bounded by the chunk
    out = pa.concat_tables(tables).to_pandas()
    np.testing.assert_array_equal(out["prediction"], model.predict(data))
    np.testing.assert_allclose(out["proba_up"], model.predict_proba(data)[:, 1])
    assert out["id"].tolist() == list(range(1000))  # columns the model ignores pass through
    assert set(out["model_name"]) == {"m"}
    assert set(out["model_version"]) == {"3"}


def test_csv_is_read_in_chunks_with_signature_types(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.5, None, 1.5], "c": [1, 2, 3]})
    frame.assign(code=["01", "02", "x"]).to_csv(path, index=False)
    source = TableSource(path)
    assert source.columns == ["a", "b", "c", "code"]
    batches = list(source.batches(InputSchema.from_signature(NUMERIC), batch_size=2))
    assert [b.num_rows for b in batches] == [2, 1]
    table = pa.Table.from_batches(batches)
    assert table.schema.field("a").type == pa.float64()
    assert table.column("code").to_pylist() == ["01", "02", "x"]  # extras stay text


def test_a_bad_csv_value_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    pacsv.write_csv(pa.table({"a": ["1", "oops"], "b": ["1", "2"], "c": ["1", "2"]}), path)
    with pytest.raises(DataError, match=r"rows\.csv"):
        list(TableSource(path).batches(InputSchema.from_signature(NUMERIC), 10))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.parquet", None, "file not found"),
        ("empty.csv", b"", "file is empty"),
        ("rows.json", b"{}", "unsupported input type"),
        ("broken.parquet", b"not parquet", "cannot read parquet"),
    ],
)
def test_unreadable_inputs_are_data_errors(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        TableSource(path)


def test_output_table_has_predictions_probabilities_and_the_model() -> None:
    batch = pa.record_batch({"x": [1, 2]})
    table = output_table(
        batch,
        np.array(["a", "b"], dtype=object),
        np.array([[0.9, 0.1], [0.2, 0.8]]),
        np.array(["a", "b"], dtype=object),
        ("model", "7"),
    )
    assert table.column_names == [
        "x", "prediction", "proba_a", "proba_b", "model_name", "model_version"
    ]  # fmt: skip
    assert table.column("proba_b").to_pylist() == [0.1, 0.8]
