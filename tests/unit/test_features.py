"""The preprocessing ColumnTransformer is built from the schema contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlops.config import DataParams
from mlops.data import Schema, infer_schema
from mlops.errors import DataError
from mlops.features import build_preprocessor


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "size": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0],
            "rooms": [1, 2, 3, 4, 5, 6],
            "town": ["a", "b", None, "a", "b", "a"],
            "built": pd.date_range("2020-01-01", periods=6),
            "price": ["low", "low", "high", "high", "low", "high"],
        }
    )


@pytest.fixture
def schema() -> Schema:
    return infer_schema(_frame(), DataParams(target="price"), "t")


def test_columns_are_routed_by_kind(schema: Schema) -> None:
    pre = build_preprocessor(schema)
    assert isinstance(pre, ColumnTransformer)
    routes = {name: columns for name, _, columns in pre.transformers}
    assert routes == {"numeric": ["size", "rooms"], "categorical": ["town"]}
    assert pre.remainder == "drop"
    steps = {name: transformer for name, transformer, _ in pre.transformers}
    assert isinstance(steps["numeric"].named_steps["scale"], StandardScaler)
    assert isinstance(steps["categorical"].named_steps["onehot"], OneHotEncoder)


def test_fitted_preprocessor_imputes_scales_and_one_hot_encodes(schema: Schema) -> None:
    frame = _frame()
    pre = build_preprocessor(schema).fit(frame)
    out = pre.transform(frame)
    assert not np.isnan(out).any()
    names = list(pre.get_feature_names_out())
    assert names == [
        "numeric__size",
        "numeric__rooms",
        "categorical__town_a",
        "categorical__town_b",
    ]
    # Scaled numerics have mean ~0; the date and target columns are not features.
    assert out[:, 0].mean() == pytest.approx(0.0, abs=1e-9)
    assert out.shape == (6, 4)


def test_unseen_category_and_missing_values_at_inference_do_not_fail(schema: Schema) -> None:
    pre = build_preprocessor(schema).fit(_frame())
    new = pd.DataFrame({"size": [np.nan], "rooms": [3], "town": ["zz"], "built": [None]})
    out = pre.transform(new)
    assert out.shape == (1, 4)
    assert list(out[0, 2:]) == [0.0, 0.0]  # unknown town: all-zero one-hot


def test_numeric_only_and_categorical_only_schemas() -> None:
    numeric = infer_schema(_frame(), DataParams(target="price", features=["rooms"]), "t")
    assert [n for n, _, _ in build_preprocessor(numeric).transformers] == ["numeric"]
    categorical = infer_schema(_frame(), DataParams(target="price", features=["town"]), "t")
    assert [n for n, _, _ in build_preprocessor(categorical).transformers] == ["categorical"]


def test_schema_without_usable_features_is_rejected(schema: Schema) -> None:
    no_features = schema.model_copy(update={"features": ["built"]})
    with pytest.raises(DataError, match="no numeric or categorical feature columns"):
        build_preprocessor(no_features)
