"""`mlops runs`: list the experiment's runs and compare runs (CI reports, PR comments).

`list_runs` reads the embedded SQLite store directly (no MLflow import: 1,000 runs in well
under a second); `compare_runs` puts runs side by side against the last one (the baseline) and
judges the first with the promotion policy's regression check, on the primary metric and with
the tolerance `mlops promote` uses (`promote_primary`, the project's `gate`).
"""

from __future__ import annotations

from mlops.runs._common import RunRefError, promote_primary
from mlops.runs._compare import Comparison, MetricRow, Side, Verdict, compare_runs
from mlops.runs._list import RunRow, list_runs, runs_table
from mlops.runs._refs import resolve_ref
from mlops.runs._render import to_html, to_markdown, to_text

__all__ = [
    "Comparison",
    "MetricRow",
    "RunRefError",
    "RunRow",
    "Side",
    "Verdict",
    "compare_runs",
    "list_runs",
    "promote_primary",
    "resolve_ref",
    "runs_table",
    "to_html",
    "to_markdown",
    "to_text",
]
