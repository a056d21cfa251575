"""Drift capability: per-column tests of a current batch against a reference -> DriftReport.

Evidently's method choice and thresholds (chi-square as a contingency test, Yates-corrected for
two levels, where Evidently runs a goodness-of-fit test), computed column by column with numpy,
with explicit verdicts instead of NaN and a multiple-testing correction (Benjamini-Hochberg).
"""

from mlops.drift.columns import compare_column
from mlops.drift.html import render_html
from mlops.drift.prediction import compare_predictions, prediction_reference
from mlops.drift.reference import (
    Champion,
    ReferenceChoice,
    find_champion,
    resolve_holdout,
    resolve_reference,
)
from mlops.drift.report import (
    ColumnDrift,
    DatasetVerdict,
    DriftReport,
    DriftSummary,
    IgnoredColumn,
    Verdict,
)
from mlops.drift.run import DriftResult, build_report, compare_sources, run_drift
from mlops.drift.source import TableSource, open_table

__all__ = [
    "Champion",
    "ColumnDrift",
    "DatasetVerdict",
    "DriftReport",
    "DriftResult",
    "DriftSummary",
    "IgnoredColumn",
    "ReferenceChoice",
    "TableSource",
    "Verdict",
    "build_report",
    "compare_column",
    "compare_predictions",
    "compare_sources",
    "find_champion",
    "open_table",
    "prediction_reference",
    "render_html",
    "resolve_holdout",
    "resolve_reference",
    "run_drift",
]
