"""Drift capability: per-column tests of a current batch against a reference -> DriftReport.

Evidently-compatible verdicts (same default methods and thresholds), computed column by column
with numpy, with explicit verdicts instead of NaN and a multiple-testing correction.
"""

from mlops.drift.columns import compare_column
from mlops.drift.html import render_html
from mlops.drift.reference import (
    Champion,
    ReferenceChoice,
    find_champion,
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
    "compare_sources",
    "find_champion",
    "open_table",
    "render_html",
    "resolve_reference",
    "run_drift",
]
