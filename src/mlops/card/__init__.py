"""Model card capability: bootstrap intervals, slices, permutation importance, explanations,
rendered through skops.card to Markdown and a self-contained HTML page."""

from mlops.card._explaining import ExplainResult, explain_file
from mlops.card._stage import (
    ARTIFACT_PATH,
    CARD_HTML,
    CARD_MD,
    CardAnalysis,
    CardResult,
    CardSubject,
    analyse,
    attach_card,
    build_card,
    slice_gates,
    subject,
    write_card,
)
from mlops.card.bootstrap import Interval, bootstrap_ci
from mlops.card.explain import METHOD, RowExplanation, explain_rows, reference_values
from mlops.card.importance import Importance, permutation_importances
from mlops.card.render import CardContent, todos
from mlops.card.slices import SliceGap, SliceReport, SliceRow, slice_report

__all__ = [
    "ARTIFACT_PATH",
    "CARD_HTML",
    "CARD_MD",
    "METHOD",
    "CardAnalysis",
    "CardContent",
    "CardResult",
    "CardSubject",
    "ExplainResult",
    "Importance",
    "Interval",
    "RowExplanation",
    "SliceGap",
    "SliceReport",
    "SliceRow",
    "analyse",
    "attach_card",
    "bootstrap_ci",
    "build_card",
    "explain_file",
    "explain_rows",
    "permutation_importances",
    "reference_values",
    "slice_gates",
    "slice_report",
    "subject",
    "todos",
    "write_card",
]
