"""Schema inference: dtypes, nullability, categories, ranges, feature selection, task checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.config import DataParams
from mlops.data import Schema, infer_column, infer_schema, load_schema
from mlops.data.schema import MAX_CATEGORIES, as_labels, ordered_levels
from mlops.errors import DataError, StageOrderError


def _frame(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, rows),
            "income": rng.normal(50_000, 10_000, rows),
            "city": rng.choice(["Oslo", "Lima", "Pune"], rows),
            "member": rng.choice([True, False], rows),
            "comment": [f"free text number {i}" for i in range(rows)],
            "signed_up": pd.date_range("2024-01-01", periods=rows, freq="h"),
            "label": rng.choice(["yes", "no"], rows),
        }
    )
    frame.loc[[3, 7], "income"] = np.nan
    frame.loc[5, "city"] = None
    return frame


PARAMS = DataParams(source="test.csv", target="label", task="classification")


def test_infer_column_types_nulls_and_ranges() -> None:
    frame = _frame()
    age = infer_column("age", frame["age"])
    assert (age.dtype, age.kind, age.nullable) == ("integer", "numeric", False)
    assert age.min == float(frame["age"].min())
    assert age.max == float(frame["age"].max())
    assert age.categories is None

    income = infer_column("income", frame["income"])
    assert (income.dtype, income.kind, income.nullable) == ("float", "numeric", True)
    assert income.min == pytest.approx(frame["income"].min())
    assert income.max == pytest.approx(frame["income"].max())

    city = infer_column("city", frame["city"])
    assert (city.dtype, city.kind, city.nullable) == ("string", "categorical", True)
    assert city.categories == ["Lima", "Oslo", "Pune"]
    assert city.min is None and city.max is None

    member = infer_column("member", frame["member"])
    assert (member.dtype, member.kind) == ("boolean", "categorical")
    assert member.categories == ["False", "True"]

    signed_up = infer_column("signed_up", frame["signed_up"])
    assert (signed_up.dtype, signed_up.kind) == ("datetime", "datetime")


def test_mostly_unique_strings_are_text_not_categories() -> None:
    comment = infer_column("comment", _frame()["comment"])
    assert comment.kind == "text"
    assert comment.categories is None


def test_many_repeated_strings_stay_categorical() -> None:
    # More than MAX_CATEGORIES distinct values, but each repeated: still a category.
    values = [f"sku-{i % (MAX_CATEGORIES + 10)}" for i in range(4 * (MAX_CATEGORIES + 10))]
    column = infer_column("sku", pd.Series(values))
    assert column.kind == "categorical"
    assert column.categories is not None
    assert len(column.categories) == MAX_CATEGORIES + 10


def test_dates_read_from_a_csv_as_text_are_dates_not_categories(tmp_path: Path) -> None:
    """A CSV's date column arrives as text: it was a categorical feature with a level per day
    (886 one-hot columns for 2,000 rows) that drifted with every new day."""
    from mlops.artifacts import read_table

    rng = np.random.default_rng(1)
    rows = 300
    days = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 90, rows), unit="D")
    frame = pd.DataFrame(
        {
            "signed_up": days.strftime("%Y-%m-%d"),
            "seen_at": days.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "x": rng.normal(size=rows),
            "label": rng.choice(["yes", "no"], rows),
        }
    )
    frame.loc[4, "signed_up"] = None
    csv = tmp_path / "data.csv"
    frame.to_csv(csv, index=False)
    schema = infer_schema(read_table(csv), PARAMS, str(csv))
    for name in ("signed_up", "seen_at"):
        col = schema.column(name)
        assert (col.dtype, col.kind, col.role) == ("string", "datetime", "excluded")
        assert col.excluded_reason == "date/time values are not used as features"
    assert schema.column("signed_up").nullable
    assert schema.features == ["x"]
    # Text that only looks like dates stays what it was.
    not_a_day = infer_column("d", pd.Series(["2022-02-30", "2022-03-01"] * 50))
    assert not_a_day.kind == "categorical"
    mixed = infer_column("d", pd.Series(["2022-03-01", "soon"] * 50))
    assert mixed.kind == "categorical"
    codes = infer_column("d", pd.Series(["20220301", "20220302"] * 50))
    assert codes.kind == "categorical"


def test_all_missing_numeric_column() -> None:
    column = infer_column("empty", pd.Series([np.nan, np.nan]))
    assert (column.kind, column.nullable, column.min, column.max) == ("numeric", True, None, None)


def test_nullable_integer_dtype() -> None:
    column = infer_column("n", pd.Series([1, None, 3], dtype="Int64"))
    assert (column.dtype, column.nullable, column.min, column.max) == ("integer", True, 1.0, 3.0)


def test_infer_schema_selects_numeric_and_categorical_features() -> None:
    schema = infer_schema(_frame(), PARAMS, "test.csv")
    assert schema.target == "label"
    assert schema.task == "classification"
    assert schema.rows == 200
    assert [c.name for c in schema.columns] == list(_frame().columns)
    # Text and datetime columns are recorded in the contract but excluded from the features.
    assert schema.features == ["age", "income", "city", "member"]
    assert schema.column("label").categories == ["no", "yes"]


def test_infer_schema_respects_drop_and_explicit_features() -> None:
    dropped = infer_schema(_frame(), PARAMS.model_copy(update={"drop": ["age"]}), "t")
    assert dropped.features == ["income", "city", "member"]
    chosen = infer_schema(_frame(), PARAMS.model_copy(update={"features": ["city", "age"]}), "t")
    assert chosen.features == ["city", "age"]
    assert [c.name for c in chosen.feature_columns()] == ["city", "age"]


def test_schema_round_trips_through_json(tmp_path: Path) -> None:
    schema = infer_schema(_frame(), PARAMS, "test.csv")
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema.model_dump(mode="json")), encoding="utf-8")
    assert load_schema(path) == schema


def test_schema_column_lookup_unknown_name() -> None:
    schema = infer_schema(_frame(), PARAMS, "test.csv")
    with pytest.raises(KeyError):
        schema.column("nope")


@pytest.mark.parametrize(
    ("frame", "params", "message"),
    [
        (
            pd.DataFrame({"a": [1, 2], "b": [3, 4]}),
            PARAMS,
            r"test\.csv: target column 'label' not found \(columns: a, b\)",
        ),
        (
            pd.DataFrame({"a": [1, 2, 3], "label": ["x", "x", "x"]}),
            PARAMS,
            r"target column 'label' has a single class \('x'\); classification needs at least 2",
        ),
        (
            pd.DataFrame({"a": [1, 2], "label": [None, None]}),
            PARAMS,
            r"target column 'label' has no values",
        ),
        (
            pd.DataFrame({"a": [1, 2], "label": ["x", "y"]}),
            PARAMS.model_copy(update={"task": "regression"}),
            r"target column 'label' is string; regression needs a numeric target",
        ),
        (
            pd.DataFrame({"a": np.arange(300), "label": np.linspace(0, 1, 300)}),
            PARAMS,
            r"target column 'label' looks continuous \(300 distinct values\); "
            r"set data\.task: regression",
        ),
        (
            pd.DataFrame({"note": [f"t{i}" for i in range(300)], "label": ["x", "y"] * 150}),
            PARAMS,
            r"no usable feature columns besides target 'label'",
        ),
        (
            pd.DataFrame({"a": [1, 2], "label": ["x", "y"]}),
            PARAMS.model_copy(update={"features": ["a", "b"], "drop": ["c"]}),
            r"configured column\(s\) not found: b, c",
        ),
        (
            pd.DataFrame({"when": pd.date_range("2024-01-01", periods=2), "label": ["x", "y"]}),
            PARAMS.model_copy(update={"features": ["when"]}),
            r"feature column 'when' is datetime, expected numeric or categorical",
        ),
        (
            pd.DataFrame({"a": [1, 2], "label": ["x", "y"]}),
            PARAMS.model_copy(update={"features": ["a", "label"]}),
            r"data\.features: lists the target column 'label'",
        ),
        (
            pd.DataFrame([[1, 2, "x"], [3, 4, "y"]], columns=["a", "a", "label"]),
            PARAMS,
            r"duplicate column names: a",
        ),
    ],
)
def test_infer_schema_errors(frame: pd.DataFrame, params: DataParams, message: str) -> None:
    with pytest.raises(DataError, match=message):
        infer_schema(frame, params, "test.csv")


def test_regression_schema() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0.5, 1.5, 2.5]})
    schema = infer_schema(frame, DataParams(target="y", task="regression"), "t")
    assert schema.task == "regression"
    assert schema.features == ["x"]
    assert schema.column("y").kind == "numeric"


def test_load_schema_before_ingest_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(StageOrderError, match=r"run `mlops data ingest` first"):
        load_schema(tmp_path / "schema.json")


def test_load_schema_rejects_corrupt_and_invalid_files(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match=r"corrupt\.json: not valid JSON"):
        load_schema(corrupt)
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"version": 1, "source": "x"}), encoding="utf-8")
    with pytest.raises(DataError, match=r"invalid\.json: not a valid schema contract"):
        load_schema(invalid)


def test_schema_is_immutable() -> None:
    schema = infer_schema(_frame(), PARAMS, "test.csv")
    assert isinstance(schema, Schema)
    with pytest.raises(ValueError, match="frozen"):
        schema.target = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------- ordered categories


def _sizes(rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "size": rng.choice(["small", "medium", "large"], rows),
            "weight": rng.normal(5, 1, rows),
            "label": rng.choice(["yes", "no"], rows),
        }
    )


ORDINAL = PARAMS.model_copy(update={"ordinal": {"size": ["small", "medium", "large"]}})


def test_declared_ordinal_levels_are_recorded_in_order() -> None:
    schema = infer_schema(_sizes(), ORDINAL, "t.csv")
    size = schema.column("size")
    assert (size.kind, size.dtype, size.ordered) == ("categorical", "string", True)
    assert size.categories == ["small", "medium", "large"]  # level order, not sorted
    assert "size" in schema.features
    assert schema.column("label").ordered is False
    # Unordered categories stay sorted labels.
    assert infer_schema(_sizes(), PARAMS, "t.csv").column("size").categories == [
        "large",
        "medium",
        "small",
    ]


def test_declared_levels_may_include_unseen_ones_and_missing_values() -> None:
    frame = _sizes()
    frame.loc[[1, 4], "size"] = None
    params = PARAMS.model_copy(update={"ordinal": {"size": ["small", "medium", "large", "huge"]}})
    size = infer_schema(frame, params, "t.csv").column("size")
    assert size.categories == ["small", "medium", "large", "huge"]
    assert size.nullable is True


def test_pandas_ordered_categorical_is_ordinal_without_params() -> None:
    frame = _sizes()
    frame["size"] = pd.Categorical(
        frame["size"], categories=["small", "medium", "large"], ordered=True
    )
    frame["plain"] = pd.Categorical(frame["size"].astype(str))  # unordered: one-hot as before
    schema = infer_schema(frame, PARAMS, "t.parquet")
    assert schema.column("size").ordered is True
    assert schema.column("size").categories == ["small", "medium", "large"]
    assert schema.column("plain").ordered is False
    # data.ordinal wins over the file's own order.
    params = PARAMS.model_copy(update={"ordinal": {"size": ["large", "medium", "small"]}})
    assert infer_schema(frame, params, "t").column("size").categories == [
        "large",
        "medium",
        "small",
    ]


@pytest.mark.parametrize(
    ("ordinal", "message"),
    [
        (
            {"size": ["small", "large"]},
            r"^t\.csv: data\.ordinal\.size: column 'size' has value\(s\) not among its levels: "
            r"'medium' \(levels: small, large\)$",
        ),
        ({"nope": ["a"]}, r"^data\.ordinal\.nope: column 'nope' not found in t\.csv$"),
        ({"size": []}, r"^data\.ordinal\.size: lists no levels$"),
        (
            {"size": ["small", "small", "large"]},
            r"^data\.ordinal\.size: level\(s\) listed more than once: small$",
        ),
        (
            {"weight": ["1", "2"]},
            r"^data\.ordinal\.weight: column 'weight' holds float values, already ordered as "
            r"numbers; ordinal levels are for text categories$",
        ),
    ],
)
def test_ordinal_errors_name_the_key_column_and_values(
    ordinal: dict[str, list[str]], message: str
) -> None:
    with pytest.raises(DataError, match=message):
        infer_schema(_sizes(), PARAMS.model_copy(update={"ordinal": ordinal}), "t.csv")


def test_many_unexpected_values_are_counted_not_all_listed() -> None:
    frame = pd.DataFrame({"grade": [f"g{i:02d}" for i in range(30)], "label": ["a", "b"] * 15})
    params = PARAMS.model_copy(update={"ordinal": {"grade": ["g00"]}})
    with pytest.raises(DataError, match=r"'g10' \(\+19 more\) \(levels: g00\)$"):
        infer_schema(frame, params, "t.csv")


def test_roles_and_order_round_trip_through_json(tmp_path: Path) -> None:
    schema = infer_schema(_sizes(), ORDINAL, "t.csv")
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema.model_dump(mode="json")), encoding="utf-8")
    loaded = load_schema(path)
    assert loaded == schema
    assert loaded.column("size").categories == ["small", "medium", "large"]
    assert [c.role for c in loaded.columns] == ["feature", "feature", "target"]


def test_contract_written_before_roles_still_loads(tmp_path: Path) -> None:
    old = infer_schema(_frame(), PARAMS, "test.csv").model_dump(mode="json")
    for column in old["columns"]:
        for key in ("role", "excluded_reason", "ordered"):
            del column[key]
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    loaded = load_schema(path)
    assert all(c.role is None and not c.ordered for c in loaded.columns)
    assert loaded.identifiers() == {}


def test_ordinal_values_are_stored_as_labels() -> None:
    series = pd.Series(pd.Categorical([1, 3, None, 2], categories=[1, 2, 3], ordered=True))
    assert ordered_levels(series) == ["1", "2", "3"]
    labels = as_labels(series)
    assert labels.iloc[[0, 1, 3]].tolist() == ["1", "3", "2"]
    assert bool(labels.isna().iloc[2])
    assert ordered_levels(pd.Series(["a", "b"])) is None
    assert ordered_levels(pd.Series(pd.Categorical(["a", "b"]))) is None  # unordered
