"""Ordered categories from a Parquet file (pandas ordered categoricals) go through ingest, split
and training encoded in their order: the contract keeps the levels, the model codes them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import open_project, open_store
from mlops import artifacts
from mlops.data import ingest, split
from mlops.train import run_training

CUTS = ["Fair", "Good", "Very Good", "Premium", "Ideal"]
CLARITY = ["SI2", "VS1", "IF"]  # worst to best; alphabetical would put IF first
ROWS = 600


@pytest.fixture
def diamonds(project: Path) -> Path:
    rng = np.random.default_rng(7)
    cut = rng.integers(0, len(CUTS), ROWS)
    clarity = rng.integers(0, len(CLARITY), ROWS)
    carat = rng.uniform(0.2, 2.0, ROWS)
    frame = pd.DataFrame(
        {
            "carat": carat,
            # Alphabetical order (Fair, Good, Ideal, Premium, Very Good) is not the quality order.
            "cut": pd.Categorical.from_codes(cut, CUTS, ordered=True),
            "clarity": pd.Categorical.from_codes(clarity, CLARITY, ordered=True),
            "price": 1000 * cut + 300 * clarity + 2000 * carat + rng.normal(0, 50, ROWS),
        }
    )
    frame.to_parquet(project / "diamonds.parquet")
    return project


#: A regression: the example's classification gates (roc_auc, balanced_accuracy) give way to r2.
OVERRIDES = (
    "data.source=diamonds.parquet",
    "data.target=price",
    "data.task=regression",
    "gate.metrics={r2: {min: 0.9}}",
    "gate.primary=r2",
)


def test_ordered_categoricals_are_encoded_in_order_end_to_end(diamonds: Path) -> None:
    project = open_project(None, *OVERRIDES)
    schema = ingest(project).schema
    assert schema.column("cut").ordered is True
    assert schema.column("cut").categories == CUTS
    assert schema.column("clarity").categories == CLARITY
    contract = json.loads(project.settings.paths.schema_file.read_text())
    assert [c["ordered"] for c in contract["columns"]] == [False, True, True, False]
    raw = artifacts.read_table(project.settings.paths.raw)
    assert not isinstance(raw["cut"].dtype, pd.CategoricalDtype)  # labels; the contract orders
    assert set(raw["cut"]) <= set(CUTS)

    split(project)
    result = run_training(project, open_store(None, *OVERRIDES))
    model = artifacts.load_model(result.model_path)
    steps = {name: step for name, step, _ in model.named_steps["features"].transformers_}
    assert set(steps) == {"numeric", "ordinal"}  # no one-hot of cut or clarity
    encoder = steps["ordinal"].named_steps["encode"]
    assert [list(c) for c in encoder.categories_] == [CUTS, CLARITY]
    grid = pd.DataFrame({"carat": [1.0] * len(CUTS), "cut": CUTS, "clarity": ["VS1"] * len(CUTS)})
    predicted = model.predict(grid)
    assert predicted[0] < predicted[2] < predicted[-1]  # price rises with the cut's quality
    unknown = model.predict(grid.assign(cut="Flawless"))  # outside the levels: still a number
    assert np.isfinite(unknown).all()
    assert result.metrics["r2"] > 0.9
