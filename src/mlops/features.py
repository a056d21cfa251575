"""Build the preprocessing ColumnTransformer from the schema contract (no I/O)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops.errors import DataError

if TYPE_CHECKING:
    from sklearn.compose import ColumnTransformer

    from mlops.data import Schema

#: The code an ordinal encoder gives a value outside the column's levels (before scaling).
UNKNOWN_LEVEL = -1


def build_preprocessor(schema: Schema) -> ColumnTransformer:
    """Numeric: median impute + standard scale. Categorical: most-frequent impute + one-hot.
    Ordinal (ordered categories): most-frequent impute + codes in level order + standard scale;
    a value outside the levels is coded UNKNOWN_LEVEL."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    columns = schema.feature_columns()
    numeric = [c.name for c in columns if c.kind == "numeric"]
    categorical = [c.name for c in columns if c.kind == "categorical" and not c.ordered]
    ordinal = [c for c in columns if c.kind == "categorical" and c.ordered]
    if not numeric and not categorical and not ordinal:
        raise DataError("schema: no numeric or categorical feature columns to build features from")
    transformers: list[tuple[str, Any, list[str]]] = []
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
    if ordinal:
        transformers.append(
            (
                "ordinal",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        (
                            "encode",
                            OrdinalEncoder(
                                categories=[list(c.categories or []) for c in ordinal],
                                handle_unknown="use_encoded_value",
                                unknown_value=UNKNOWN_LEVEL,
                            ),
                        ),
                        ("scale", StandardScaler()),
                    ]
                ),
                [c.name for c in ordinal],
            )
        )
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True)
