"""A CSV as R's write.csv exports it: a `""` row-name column 1..n, quoted strings, `NA`, rows
sorted by the target. Ingest leaves the row number out (recorded with the reason in
data/schema.json), the model never sees it, drift ignores it, and an ordered column declared in
`data.ordinal` is encoded in its order end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import palmerpenguins
import pandas as pd
import pytest

from conftest import open_project, open_store
from mlops import artifacts
from mlops.data import ingest, split
from mlops.drift import run_drift
from mlops.train import run_training

ROW_NAMES = "Unnamed: 0"  # what pandas calls R's empty header
LEVELS = ["small", "medium", "large"]


def write_r_csv(path: Path) -> pd.DataFrame:
    """Penguins sorted by species, written the way R's write.csv writes a data frame."""
    frame = palmerpenguins.load_penguins().sort_values("species", kind="stable")
    mass = frame["body_mass_g"]
    frame["size"] = pd.cut(mass, [0, 3600, 4600, np.inf], labels=LEVELS).astype(object)
    frame = frame.drop(columns=["body_mass_g"]).reset_index(drop=True)

    def cell(value: object) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "NA"
        return f'"{value}"' if isinstance(value, str) else str(value)

    header = ",".join(['""', *(f'"{c}"' for c in frame.columns)])
    lines = [
        ",".join([f'"{i}"', *(cell(v) for v in row)])
        for i, row in enumerate(frame.itertuples(index=False), start=1)
    ]
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return frame


@pytest.fixture
def r_project(project: Path) -> Path:
    write_r_csv(project / "penguins_r.csv")
    return project


OVERRIDES = (
    "data.source=penguins_r.csv",
    f"data.ordinal={{size: [{', '.join(LEVELS)}]}}",
)


def test_row_names_are_excluded_and_listed_in_the_contract(r_project: Path) -> None:
    project = open_project(None, *OVERRIDES)
    result = ingest(project)
    schema = result.schema
    assert ROW_NAMES not in schema.features
    assert schema.features == [
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "sex",
        "year",
        "size",
    ]
    written = json.loads((r_project / "data" / "schema.json").read_text())
    by_name = {c["name"]: c for c in written["columns"]}
    assert by_name[ROW_NAMES]["role"] == "identifier"
    assert by_name[ROW_NAMES]["excluded_reason"] == ("named 'Unnamed: 0', like a row number or key")
    assert by_name["species"]["role"] == "target"
    assert by_name["year"]["role"] == "feature"
    assert by_name["size"]["ordered"] is True
    assert by_name["size"]["categories"] == LEVELS
    # The row number is kept in the data (it identifies rows), just not learnt from.
    raw = artifacts.read_table(project.settings.paths.raw)
    assert raw[ROW_NAMES].tolist()[:3] == [1, 2, 3]
    assert raw["size"].dropna().isin(LEVELS).all()


def test_training_never_sees_the_row_number_and_drift_ignores_it(r_project: Path) -> None:
    project = open_project(None, *OVERRIDES)
    store = open_store(None, *OVERRIDES)
    ingest(project)
    split(project)
    result = run_training(project, store)
    model = artifacts.load_model(result.model_path)
    seen = list(model.feature_names_in_)
    assert ROW_NAMES not in seen
    assert "size" in seen
    encoder = dict((n, t) for n, t, _ in model.named_steps["features"].transformers_)["ordinal"]
    assert [list(c) for c in encoder.named_steps["encode"].categories_] == [LEVELS]
    assert result.metrics["roc_auc"] > 0.9  # an honest model of penguins is still good

    drift = run_drift(project, store).report
    ignored = {i.column: i.reason for i in drift.ignored}
    assert ignored[ROW_NAMES] == (
        "identifier column (named 'Unnamed: 0', like a row number or key)"
    )
    assert ROW_NAMES not in {c.column for c in drift.columns}
    assert "size" in {c.column for c in drift.columns}
    saved = json.loads((project.settings.paths.reports / "drift.json").read_text())
    assert {"column": ROW_NAMES, "reason": ignored[ROW_NAMES]} in saved["ignored"]


def test_with_the_row_number_listed_as_a_feature_it_is_used(r_project: Path) -> None:
    features = "['Unnamed: 0', island, bill_length_mm]"
    project = open_project(None, "data.source=penguins_r.csv", f"data.features={features}")
    schema = ingest(project).schema
    assert schema.features == [ROW_NAMES, "island", "bill_length_mm"]
    assert schema.column(ROW_NAMES).role == "feature"
