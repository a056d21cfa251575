"""Columns the model does not read keep their types through `mlops predict` (issue 14).

A CSV's passed-through columns used to come out as text, so `price - prediction` on the
Parquet output raised a TypeError.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.ensemble import RandomForestRegressor

from mlops.predict import Scorer, TableSource, score_batches

SIGNATURE = [
    {"name": "a", "type": "double", "required": True},
    {"name": "b", "type": "double", "required": True},
]


def _rows(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame(
        {
            "a": a,
            "b": b,
            "price": (100_000 + 1_000 * a).round().astype(np.int64),
            "rate": np.round(3 + b, 3),
            "zip": [f"{i:05d}" for i in range(n)],  # leading zeros: a code, not a number
            "city": rng.choice(["x", "y"], n),
        }
    )


def _score(source: Path, batch_size: int) -> pa.Table:
    rows = _rows()
    model = RandomForestRegressor(n_estimators=5, random_state=0)
    model.fit(rows[["a", "b"]], rows["price"])
    scorer = Scorer.from_model(model, SIGNATURE)
    table = TableSource(source)
    out = [
        t for t, _ in score_batches(scorer, table.batches(scorer.schema, batch_size), ("m", "1"))
    ]
    return pa.concat_tables(out)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_passthrough_columns_keep_their_types_and_arithmetic_works(
    tmp_path: Path, suffix: str
) -> None:
    source = tmp_path / f"rows{suffix}"
    rows = _rows()
    rows.to_csv(source, index=False) if suffix == ".csv" else rows.to_parquet(source)
    # Small chunks: every chunk must agree on the types the first one chose.
    table = _score(source, batch_size=64)
    assert table.schema.field("price").type == pa.int64()
    assert table.schema.field("rate").type == pa.float64()
    for text in ("zip", "city"):
        kind = table.schema.field(text).type
        assert pa.types.is_string(kind) or pa.types.is_large_string(kind), (text, kind)
    out_path = tmp_path / "scored.parquet"
    pq.write_table(table, out_path)
    out = pd.read_parquet(out_path)
    residual = out["price"] - out["prediction"]  # a TypeError while price was text
    assert np.isfinite(residual.to_numpy()).all()
    assert out["price"].tolist() == rows["price"].tolist()
    assert out["zip"].tolist() == rows["zip"].tolist()


def test_a_later_decimal_or_text_value_widens_the_whole_column(tmp_path: Path) -> None:
    lines = ["a,b,n,mixed,huge"]
    for i in range(2_000):
        late = i == 1_999
        lines.append(f"0.5,1.5,{'2.5' if late else i},{'n/a?' if late else i},{i}")
    lines.append(f"0.5,1.5,7,8,{2**70}")  # past int64
    path = tmp_path / "rows.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = TableSource(path)
    assert table.passthrough_types(["n", "mixed", "huge"]) == {
        "n": pa.float64(),
        "huge": pa.float64(),
    }
    batches = list(table.batches(Scorer.from_model(None, SIGNATURE).schema, 500))
    combined = pa.Table.from_batches(batches)
    assert combined.schema.field("n").type == pa.float64()
    assert combined.schema.field("mixed").type == pa.string()
    assert combined.column("n").to_pylist()[-2:] == [2.5, 7.0]
