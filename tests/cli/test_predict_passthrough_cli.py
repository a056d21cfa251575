"""`mlops predict` keeps the types of the input columns the model does not read (issue 14)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from integration.serving import feature_rows, register

from .conftest import Invoke


@pytest.mark.parametrize("output", ["scored.parquet", "scored.csv"])
def test_numeric_passthrough_columns_stay_numeric(
    cli: Invoke, trained_project: Path, output: str
) -> None:
    register(trained_project)
    rows = feature_rows(trained_project)
    price = np.arange(len(rows), dtype=np.int64) * 1_000 + 7
    rows.assign(price=price, weight=np.linspace(0.5, 2.5, len(rows))).to_csv(
        trained_project / "rows.csv", index=False
    )
    result = cli("predict", "rows.csv", output)
    assert result.exit_code == 0, result.stderr
    path = trained_project / output
    if output.endswith(".parquet"):
        schema = pq.read_schema(path)
        assert str(schema.field("price").type) == "int64"
        assert str(schema.field("weight").type) == "double"
        out = pd.read_parquet(path)
    else:
        out = pd.read_csv(path)
    assert out["price"].tolist() == price.tolist()
    # Arithmetic with the model's outputs works (a TypeError while price was text).
    residual = (out["price"] - out["proba_Adelie"]).to_numpy()
    np.testing.assert_allclose(residual, price - out["proba_Adelie"].to_numpy())
    assert (out["weight"] - out["proba_Gentoo"]).dtype.kind == "f"
