"""Build the preprocessing ColumnTransformer from the schema contract (no I/O)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops.errors import DataError

if TYPE_CHECKING:
    from sklearn.compose import ColumnTransformer

    from mlops.data import Schema


def build_preprocessor(schema: Schema) -> ColumnTransformer:
    """Numeric: median impute + standard scale. Categorical: most-frequent impute + one-hot."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c.name for c in schema.feature_columns() if c.kind == "numeric"]
    categorical = [c.name for c in schema.feature_columns() if c.kind == "categorical"]
    if not numeric and not categorical:
        raise DataError("schema: no numeric or categorical feature columns to build features from")
    transformers = []
    if numeric:
        transformers.append(
            (
                "numeric",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                        ("scale", StandardScaler()),
                    ]
                ),
                numeric,
            )
        )
    if categorical:
        transformers.append(
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        (
                            "onehot",
                            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                        ),
                    ]
                ),
                categorical,
            )
        )
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True)
