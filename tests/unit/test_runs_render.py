"""`mlops runs`: the filter translation (pure) and the listing's width."""

from __future__ import annotations

import pytest

from mlops.registry.local import ModelVersionInfo
from mlops.runs import RunRow, runs_table
from mlops.tracking.runs import RunRecord, sql_filter


@pytest.mark.parametrize(
    "expression",
    [
        "attributes.run_name LIKE 'hgb%'",  # LIKE: MLflow's
        "metrics.test_roc_auc > 'high'",  # a metric against text: MLflow's error to give
        "params.model.estimator > 'a'",  # params compare with = and != only
        "params.a = 'x' OR params.b = 'y'",  # OR is not MLflow grammar: its error
        "metrics.test_roc_auc >>> 1",
        "attributes.user_id = 'me'",  # attributes beyond status/name/id/times
        "nonsense.key = 'x'",
    ],
)
def test_filters_left_to_mlflow(expression: str) -> None:
    assert sql_filter(expression) is None


def test_filter_values_and_keys_are_parameters() -> None:
    """Keys and values never become SQL text: a key full of SQL is just a key."""
    found = sql_filter("tags.`x'; DROP TABLE runs; --` = 'a' and metrics.m <= 1e-3")
    assert found is not None
    clauses, args = found
    assert "DROP" not in clauses and args == ["x'; DROP TABLE runs; --", "a", "m", 0.001]
    assert clauses.count("EXISTS") == 2


def test_listing_fits_120_columns() -> None:
    record = RunRecord(
        run_id="a" * 32,
        name="hgb-" + "very-long-experiment-name-" * 3 + "1a2b3c4",
        status="FINISHED",
        start_ms=1_700_000_000_000,
        end_ms=1_700_000_123_000,
        artifact_uri="",
        params={"gate.primary": "average_precision"},
        metrics={"test_average_precision": 0.91234},
        tags={
            "mlops.dvc_experiment": "an-unusually-long-dvc-experiment-name",
            "mlops.git_commit": "1a2b3c4d" * 5,
            "mlops.gate.passed": "true",
            "mlops.promotion.verdict": "promoted",
            "mlops.estimator": "hist_gradient_boosting",
        },
    )
    versions = [
        ModelVersionInfo("m", "12", ("champion", "previous"), record.run_id, "", 0, "READY"),
        ModelVersionInfo("m", "11", (), record.run_id, "", 0, "READY"),
    ]
    text = runs_table([RunRow(record, "average_precision", versions)])
    lines = text.splitlines()
    assert len(lines) == 2 and all(len(line) <= 120 for line in lines), text
    assert "average_precision 0.9123" in lines[1] and "pass,prom" in lines[1]
    assert lines[1].startswith("aaaaaaaa  hgb-very")
