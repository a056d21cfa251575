"""The preprocessing ColumnTransformer is built from the schema contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from mlops.config import DataParams
from mlops.data import Schema, infer_schema
from mlops.errors import DataError
from mlops.features import UNKNOWN_LEVEL, build_preprocessor


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


# --------------------------------------------------------------------------- ordered categories

LEVELS = ["small", "medium", "large"]


def _sized() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "size": ["small", "large", "medium", None, "large", "large"],
            "town": ["a", "b", "a", "a", "b", "a"],
            "price": ["low", "high", "low", "high", "high", "low"],
        }
    )


@pytest.fixture
def ordinal_schema() -> Schema:
    return infer_schema(_sized(), DataParams(target="price", ordinal={"size": LEVELS}), "t")


def _encoder(pre: ColumnTransformer) -> OrdinalEncoder:
    fitted = dict((name, step) for name, step, _ in pre.transformers_)
    encoder: OrdinalEncoder = fitted["ordinal"].named_steps["encode"]
    return encoder


def test_ordinal_columns_are_encoded_in_level_order_not_one_hot(ordinal_schema: Schema) -> None:
    pre = build_preprocessor(ordinal_schema)
    routes = {name: columns for name, _, columns in pre.transformers}
    assert routes == {"categorical": ["town"], "ordinal": ["size"]}
    pre.fit(_sized())
    assert list(pre.get_feature_names_out()) == [
        "categorical__town_a",
        "categorical__town_b",
        "ordinal__size",
    ]
    encoder = _encoder(pre)
    assert [list(c) for c in encoder.categories_] == [LEVELS]
    codes = encoder.transform(np.array([["small"], ["medium"], ["large"]], dtype=object))
    assert codes[:, 0].tolist() == [0.0, 1.0, 2.0]  # the declared order, not alphabetical
    out = pre.transform(_sized())
    assert out.shape == (6, 3)
    assert not np.isnan(out).any()
    # Scaled codes keep the order: small < medium < large.
    small, large, medium = out[0, 2], out[1, 2], out[2, 2]
    assert small < medium < large


def test_missing_ordinal_values_take_the_most_frequent_level(ordinal_schema: Schema) -> None:
    pre = build_preprocessor(ordinal_schema).fit(_sized())
    out = pre.transform(_sized())
    assert out[3, 2] == out[1, 2]  # the missing size becomes "large", the most frequent


def test_a_value_outside_the_levels_at_inference_is_coded_unknown(ordinal_schema: Schema) -> None:
    pre = build_preprocessor(ordinal_schema).fit(_sized())
    encoder = _encoder(pre)
    codes = encoder.transform(np.array([["gigantic"], ["small"]], dtype=object))
    assert codes[:, 0].tolist() == [UNKNOWN_LEVEL, 0.0]
    out = pre.transform(pd.DataFrame({"size": ["gigantic"], "town": ["a"]}))
    assert out.shape == (1, 3) and np.isfinite(out).all()


def test_an_ordinal_pipeline_saves_with_the_trusted_types_only(ordinal_schema: Schema) -> None:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from mlops import artifacts

    frame = _sized()
    model = Pipeline(
        [("features", build_preprocessor(ordinal_schema)), ("model", LogisticRegression())]
    ).fit(frame[ordinal_schema.features], frame["price"])
    data, types = artifacts.dump_model(model)
    assert set(types) <= artifacts.TRUSTED_MODEL_TYPES
    loaded = sio.loads(data, trusted=sorted(artifacts.TRUSTED_MODEL_TYPES))
    assert (
        loaded.predict(frame[ordinal_schema.features]).tolist()
        == model.predict(frame[ordinal_schema.features]).tolist()
    )


def test_ordinal_only_schema() -> None:
    schema = infer_schema(
        _sized(), DataParams(target="price", features=["size"], ordinal={"size": LEVELS}), "t"
    )
    assert [n for n, _, _ in build_preprocessor(schema).transformers] == ["ordinal"]
