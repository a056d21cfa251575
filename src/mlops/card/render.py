"""The model card as skops.card sections -> Markdown, and a self-contained HTML page."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.card.bootstrap import Interval
from mlops.card.importance import Importance
from mlops.card.slices import SliceReport
from mlops.card.tree_shap import ShapSummary

TODO = "TODO"
#: What the model registry keeps of a description (MLflow's SQL column is varchar(5000)).
DESCRIPTION_LIMIT = 5000


@dataclass(frozen=True)
class CardContent:
    """Everything the card shows, gathered by the stage (small, plain values)."""

    title: str
    model: Any
    details: dict[str, str]
    hyperparameters: dict[str, str]
    intended_use: str | None
    out_of_scope: str | None
    data: dict[str, list[str]]
    metrics: list[Interval]
    decision: str
    gates: dict[str, list[str]] | None
    drift_reference: str
    slices: SliceReport | None
    importances: list[Importance]
    importance_scoring: str
    usage: str
    importance_plot: str | None = None
    diagram: str | None = None
    notes: list[str] = field(default_factory=list)
    shap: ShapSummary = field(default_factory=ShapSummary)


def todos(content: CardContent) -> list[str]:
    """What a person still has to write (one line each)."""
    missing = []
    if not (content.intended_use or "").strip():
        missing.append("card.intended_use: the intended use is not written (params.yaml)")
    if not (content.out_of_scope or "").strip():
        missing.append("card.out_of_scope: the out-of-scope uses are not written (params.yaml)")
    return missing


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _written(text: str | None, key: str) -> str:
    if text and text.strip():
        return text.strip()
    return f"**{TODO}**: write `{key}` in params.yaml (`mlops card --check` fails until then)."


def _metrics_table(content: CardContent) -> dict[str, list[str]]:
    return {
        "metric": [i.metric for i in content.metrics],
        "test value": [_num(i.value) for i in content.metrics],
        "95% CI": [f"[{_num(i.low)}, {_num(i.high)}]" for i in content.metrics],
        "resamples": [str(i.resamples) for i in content.metrics],
    }


def _worst_table(report: SliceReport, n: int = 5) -> dict[str, list[str]]:
    worst = report.worst(n)
    return {
        "column": [r.column for r in worst],
        "slice": [r.level for r in worst],
        "rows": [str(r.count) for r in worst],
        report.metric: [_num(r.value) for r in worst],
    }


def _limitations(content: CardContent) -> str:
    report = content.slices
    lines = [
        "Measured on the test split only; a metric is as reliable as its interval above.",
    ]
    if report is None:
        return " ".join(lines)
    direction = "lower" if report.lower_is_better else "higher"
    lines.append(
        f"Slices compare `{report.metric}` ({direction} is better); slices with fewer than "
        f"{report.min_count} test rows are grouped into `(other)`. The worst slices:"
    )
    if report.gaps:
        gaps = "; ".join(
            f"`{g.column}`: {g.gap:.4f} (best `{g.best}`, worst `{g.worst}`)" for g in report.gaps
        )
        lines.append(f"\n\nLargest gaps between levels of sensitive columns: {gaps}.")
    return " ".join(lines)


def _add_table(card: Any, key: str, table: dict[str, list[str]], description: str = "") -> None:
    """A table section titled by the last part of `key` (skops' `add_table` titles it `key`)."""
    from skops.card._model_card import TableSection

    title = key.rsplit("/", 1)[-1]
    card.add(**{key: TableSection(title=title, content=description, table=table)})


def build_card(content: CardContent, *, images: bool = True, full: bool = True) -> Any:
    """A skops `Card` with the toolkit's sections (no template: no placeholders left)."""
    from skops.card import Card

    card = Card(content.model, template=None, model_diagram=False)
    top = content.title
    details = "\n".join(f"- {key}: {value}" for key, value in content.details.items())
    if content.diagram:
        details += (
            f"\n\nThe model diagram is a separate file: [{content.diagram}]({content.diagram})."
        )
    card.add(**{top: "Written by mlops from the run's lineage, the test split and params.yaml."})
    card.add(**{f"{top}/Model details": details})
    if content.hyperparameters and full:
        _add_table(
            card,
            f"{top}/Model details/Hyperparameters",
            {
                "hyperparameter": list(content.hyperparameters),
                "value": list(content.hyperparameters.values()),
            },
        )
    card.add(**{f"{top}/Intended use": _written(content.intended_use, "card.intended_use")})
    card.add(**{f"{top}/Out-of-scope use": _written(content.out_of_scope, "card.out_of_scope")})
    _add_table(card, f"{top}/Training and test data", content.data)
    _add_table(
        card,
        f"{top}/Metrics",
        _metrics_table(content),
        "On the test split; intervals are percentile bootstrap over test rows.",
    )
    card.add(**{f"{top}/Promotion decision": content.decision})
    if content.gates and full:
        _add_table(card, f"{top}/Promotion decision/Gates", content.gates)
    card.add(**{f"{top}/Drift reference": content.drift_reference})
    report = content.slices
    if report is not None and report.worst(1):
        _add_table(card, f"{top}/Limitations", _worst_table(report), _limitations(content))
    else:
        card.add(**{f"{top}/Limitations": _limitations(content)})
    if report is not None and report.rows and full:
        _add_table(
            card,
            f"{top}/Slices",
            {
                "column": [r.column for r in report.rows],
                "slice": [r.level for r in report.rows],
                "rows": [str(r.count) for r in report.rows],
                report.metric: [_num(r.value) for r in report.rows],
            },
            f"`{report.metric}` on the test rows of each slice, with counts.",
        )
    shown = content.importances if full else content.importances[:5]
    if shown:
        _add_table(
            card,
            f"{top}/Explanations",
            {
                "feature": [i.feature for i in shown],
                "importance": [_num(i.mean) for i in shown],
                "std": [_num(i.std) for i in shown],
            },
            f"Permutation importance on the test split: the drop in "
            f"`{content.importance_scoring}` when a column is shuffled (seeded; mean and "
            "std of 5 repeats).",
        )
    if images and content.importance_plot:
        card.add_plot(
            alt_text="permutation importance",
            **{f"{top}/Explanations/Importance plot": content.importance_plot},
        )
    _add_shap(card, f"{top}/Explanations/SHAP values", content.shap, full)
    card.add(**{f"{top}/How to load and serve": content.usage})
    for note in content.notes:
        card.add(**{f"{top}/Notes": note})
    return card


def _add_shap(card: Any, key: str, shap: ShapSummary, full: bool) -> None:
    if not full:  # the registry's short card: the permutation importances say enough
        return
    if not shap.features:
        card.add(**{key: f"No SHAP values: {shap.reason or 'nothing to explain'}."})
        return
    shown = shap.features
    _add_table(
        card,
        key,
        {"feature": [f for f, _ in shown], "mean abs SHAP": [_num(v) for _, v in shown]},
        f"shap's TreeExplainer on {shap.rows} test rows (seeded sample): the mean absolute "
        "contribution of each input column to the model's raw output (one-hot levels summed "
        "per row; averaged over classes).",
    )


def to_markdown(content: CardContent, *, images: bool = True, full: bool = True) -> str:
    rendered: str = build_card(content, images=images, full=full).render()
    return rendered.strip() + "\n"


def description(record_markdown: str, content: CardContent, artifact: str) -> str:
    """The decision record first, then the card; shortened to fit the registry's limit."""
    parts = [record_markdown.rstrip(), "---", to_markdown(content, images=False)]
    text = "\n\n".join(parts)
    if len(text) <= DESCRIPTION_LIMIT:
        return text
    short = to_markdown(content, images=False, full=False)
    pointer = f"Full card: the run's artifact `{artifact}`."
    text = "\n\n".join([record_markdown.rstrip(), "---", pointer, short])
    if len(text) <= DESCRIPTION_LIMIT:
        return text
    return "\n\n".join([record_markdown.rstrip()[: DESCRIPTION_LIMIT - 200], "---", pointer])


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "color:#222}table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;"
    "padding:.2rem .5rem;text-align:left}code{background:#f4f4f4}img{max-width:100%}"
)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def to_html(markdown_text: str, title: str, images: dict[str, Path]) -> str:
    """A self-contained page: raw HTML in the Markdown is escaped, figures are data: URIs,
    no scripts and no external requests."""
    from markdown_it import MarkdownIt

    text = markdown_text
    for name, path in images.items():
        if path.is_file():
            text = text.replace(f"]({name})", f"]({_data_uri(path)})")
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    # Defence in depth: nothing may point outside the page.
    body = re.sub(r'(src|href)="(?:https?:)?//[^"]*"', r'\1=""', body)
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body>\n{body}</body></html>\n"
    )
