"""`mlops card`: gather what the card shows (lineage, data, metrics, slices, importances) and
write `reports/model_card.{md,html}`, the model diagram and the importance plot."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops import artifacts, registry
from mlops.card import _content as parts
from mlops.card._metrics import (
    card_metrics,
    importance_metric,
    lower_is_better,
    metric_fn,
    scorer,
    slice_metric,
)
from mlops.card.bootstrap import Interval, bootstrap_ci
from mlops.card.importance import Importance, permutation_importances, plot_importances
from mlops.card.render import CardContent, description, to_html, to_markdown, todos
from mlops.card.slices import SliceReport, slice_report
from mlops.card.tree_shap import ShapSummary, shap_summary
from mlops.config import Params, Task
from mlops.data import Schema, load_schema, load_split
from mlops.errors import MlopsError, StageOrderError
from mlops.evaluate import default_primary
from mlops.gates import GateResult
from mlops.project import Project
from mlops.tracking import Store, tags

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

CARD_MD = "model_card.md"
CARD_HTML = "model_card.html"
DIAGRAM = "model_diagram.html"
IMPORTANCE_PLOT = "importance.png"
#: Where the card goes on a run's artifacts.
ARTIFACT_PATH = "card"


@dataclass(frozen=True)
class CardAnalysis:
    """What the card measures on the test split (also what promotion's slice gate reads)."""

    primary: str
    metrics: list[Interval]
    slices: SliceReport
    importances: list[Importance]
    scoring: str
    seconds: float
    shap: ShapSummary = field(default_factory=ShapSummary)

    def to_json(self) -> dict[str, Any]:
        return {
            "primary": self.primary,
            "metrics": [m.to_json() for m in self.metrics],
            "slices": self.slices.to_json(),
            "importance": {
                "scoring": self.scoring,
                "features": [i.to_json() for i in self.importances],
            },
            "shap": self.shap.to_json(),
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class CardResult:
    markdown_path: Path
    html_path: Path
    files: dict[str, Path]
    todos: list[str]
    content: CardContent
    analysis: CardAnalysis
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def _model_columns(schema: Schema, features: pd.DataFrame) -> list[str]:
    return [name for name in schema.features if name in features.columns]


def analyse(
    params: Params, schema: Schema, model: Any, features: pd.DataFrame, target: pd.Series
) -> CardAnalysis:
    """Bootstrap intervals, permutation importance and slices of `model` on the test split."""
    import numpy as np

    started = time.perf_counter()
    task: Task = schema.task
    features = features[_model_columns(schema, features)]
    primary = params.gate.primary or default_primary(task, target)
    classes = getattr(model, "classes_", None) if task == "classification" else None
    predicted = np.asarray(model.predict(features))
    proba = (
        np.asarray(model.predict_proba(features))
        if classes is not None and hasattr(model, "predict_proba")
        else None
    )
    seed, card = params.split.seed, params.card
    intervals = []
    for name in card_metrics(primary, task, list(params.gate.metrics)):
        try:
            fn = metric_fn(name, task, classes)
        except ValueError:
            continue
        found = bootstrap_ci(
            name, fn, target, predicted, proba, resamples=card.bootstrap, seed=seed
        )
        if np.isfinite(found.value):
            intervals.append(found)
    scoring = importance_metric(primary, task, 0 if classes is None else len(classes))
    importances = permutation_importances(
        model, features, target, scorer(scoring, task, classes),
        max_rows=card.importance_rows, seed=seed,
    )  # fmt: skip
    kinds = {col.name: col.kind for col in schema.feature_columns()}
    sensitive = [c for c in card.sensitive if c in features.columns]
    numeric = [i.feature for i in importances if kinds.get(i.feature) == "numeric"]
    numeric = list(dict.fromkeys(numeric[: card.top_numeric] + [
        c for c in sensitive if kinds.get(c) == "numeric"
    ]))  # fmt: skip
    categorical = [c for c, kind in kinds.items() if kind in ("categorical", "text")]
    chosen = slice_metric(primary, task)
    fn = metric_fn(chosen, task, classes)
    report = slice_report(
        features,
        target,
        predicted,
        chosen,
        lambda y, p: fn(y, p, None),
        lower_is_better=lower_is_better(chosen),
        categorical=categorical,
        numeric=numeric,
        sensitive=sensitive,
        redacted=list(schema.personal()),
        min_count=card.min_slice,
    )
    shap = (
        shap_summary(model, features, max_rows=card.shap_rows, seed=seed)
        if card.shap
        else ShapSummary(reason="card.shap is false (params.yaml)")
    )
    return CardAnalysis(
        primary, intervals, report, importances, scoring, time.perf_counter() - started, shap
    )


def slice_gates(params: Params, analysis: CardAnalysis) -> list[GateResult]:
    """`gate.slices.max_gap` on each `card.sensitive` column (none when not configured)."""
    gate = params.gate.slices
    if gate is None:
        return []
    gaps = {g.column: g for g in analysis.slices.gaps}
    results = []
    for column in params.card.sensitive:
        name = f"slice gap of {column} ({analysis.slices.metric})"
        found = gaps.get(column)
        if found is None:
            results.append(
                GateResult(
                    name=name,
                    value=None,
                    threshold=f"<= {gate.max_gap:g} (fewer than 2 slices of "
                    f"{params.card.min_slice} rows: not measured)",
                    passed=True,
                )
            )
            continue
        results.append(
            GateResult(
                name=name,
                value=found.gap,
                threshold=f"<= {gate.max_gap:g} (worst {found.worst}, best {found.best})",
                passed=found.gap <= gate.max_gap,
            )
        )
    return results


@dataclass(frozen=True)
class CardSubject:
    """Which model the card is about, and where it came from."""

    model: Any
    uri: str
    run_id: str | None
    name: str | None = None
    version: str | None = None
    version_tags: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        if self.version:
            return f"Model card: {self.name} v{self.version}"
        return f"Model card: run {self.run_id or 'unknown'}"


def subject(project: Project, store: Store, ref: str | None) -> CardSubject:
    """`ref` (VERSION or @ALIAS); without one the champion, else the last trained model."""
    allow = project.allow_unsafe_model
    if ref is None and store.exists():
        names = store.names
        info = registry.find_alias(store, names.model_name, names.champion_alias)
        if info is not None:
            ref = f"@{names.champion_alias}"
    if ref is not None:
        info = registry.resolve(store, ref)
        loaded = registry.load_version(store, info, allow_unsafe=allow)
        uri = f"{registry.MODEL_URI_PREFIX}{info.name}/{info.version}"
        return CardSubject(loaded.model, uri, info.run_id, info.name, info.version, dict(info.tags))
    paths = project.settings.paths
    if not paths.run_file.is_file() or not paths.model_file.is_file():
        raise StageOrderError(
            f"{paths.run_file}: no registered version and no trained model; run `mlops train`"
        )
    record = artifacts.read_json(paths.run_file)
    record = record if isinstance(record, dict) else {}
    run_id = str(record["run_id"]) if record.get("run_id") else None
    model = artifacts.load_model(paths.model_file, allow_unsafe=allow)
    uri = str(record.get("model_uri") or f"runs:/{run_id}/model")
    return CardSubject(model, uri, run_id)


def _promotion_record(project: Project, run_id: str | None) -> dict[str, Any] | None:
    path = project.settings.paths.reports / "promotion.json"
    if run_id is None or not path.is_file():
        return None
    try:
        found = artifacts.read_json(path)
    except MlopsError:
        return None
    if not isinstance(found, dict) or found.get("dry_run"):
        return None
    candidate = found.get("candidate") or {}
    return found if candidate.get("run_id") == run_id else None


def _test_split(project: Project, schema: Schema) -> tuple[pd.DataFrame, pd.Series]:
    test = load_split(project, "test")
    if schema.target not in test.columns:
        raise StageOrderError(f"{project.settings.paths.test}: target {schema.target!r} missing")
    return test.drop(columns=[schema.target]), test[schema.target]


def build_card(
    project: Project,
    store: Store,
    target: CardSubject,
    *,
    analysis: CardAnalysis | None = None,
    record: dict[str, Any] | None = None,
    record_markdown: str | None = None,
    out_dir: Path | None = None,
) -> CardResult:
    """Measure (unless given), render and write the card files for `target`."""
    started = time.perf_counter()
    paths = project.settings.paths
    reports = out_dir or paths.reports
    schema = load_schema(paths.schema_file)
    features, test_target = _test_split(project, schema)
    if analysis is None:
        analysis = analyse(project.params, schema, target.model, features, test_target)
    splits = {"test": load_split(project, "test")}
    if paths.train.is_file():
        splits = {"train": load_split(project, "train"), **splits}
    lineage = store.lineage(target.run_id) if target.run_id and store.exists() else {}
    lineage = {**lineage, **{k: v for k, v in target.version_tags.items() if k in tags.LINEAGE}}
    record = record if record is not None else _promotion_record(project, target.run_id)
    decision, gates = parts.decision(target.version_tags, record)
    plot = plot_importances(analysis.importances, analysis.scoring, reports / IMPORTANCE_PLOT)
    diagram = _write_diagram(target.model, reports / DIAGRAM)
    details = {
        "estimator": f"`{type(parts.estimator(target.model)).__name__}` "
        f"({project.params.model.estimator}, task {schema.task})",
        "model": f"`{target.uri}`",
        "run": f"`{target.run_id or '-'}`",
        "git commit": f"`{lineage.get(tags.GIT_COMMIT, '-')}`"
        + (" (dirty)" if lineage.get(tags.GIT_DIRTY) == "true" else ""),
        "params hash (sha256)": f"`{lineage.get(tags.PARAMS_SHA256, '-')}`",
        "packages": parts.versions(),
        "primary metric": f"`{analysis.primary}`",
    }
    content = CardContent(
        title=target.title,
        model=target.model,
        details=details,
        hyperparameters=parts.hyperparameters(target.model),
        intended_use=project.params.card.intended_use,
        out_of_scope=project.params.card.out_of_scope,
        data=parts.data_table(project, schema, splits, lineage),
        metrics=analysis.metrics,
        decision=decision,
        gates=gates,
        drift_reference=parts.drift_reference(project, lineage),
        slices=analysis.slices,
        importances=analysis.importances,
        importance_scoring=analysis.scoring,
        shap=analysis.shap,
        usage=parts.usage(target.uri),
        importance_plot=IMPORTANCE_PLOT,
        diagram=DIAGRAM,
    )
    markdown = to_markdown(content)
    md_path = artifacts.write_report(reports / CARD_MD, markdown)
    html_path = artifacts.write_report(
        reports / CARD_HTML, to_html(markdown, target.title, {IMPORTANCE_PLOT: plot})
    )
    json_path = artifacts.write_json(reports / "model_card.json", analysis.to_json())
    files = {"md": md_path, "html": html_path, "diagram": diagram, "plot": plot, "json": json_path}
    extra = {}
    if record_markdown is not None:
        extra["description"] = description(record_markdown, content, f"{ARTIFACT_PATH}/{CARD_MD}")
    return CardResult(
        md_path, html_path, files, todos(content), content, analysis,
        time.perf_counter() - started, extra,
    )  # fmt: skip


def _write_diagram(model: Any, target: Path) -> Path:
    from sklearn.utils import estimator_html_repr

    page = (
        '<!doctype html>\n<html><head><meta charset="utf-8"><title>model diagram</title>'
        f"</head><body>{estimator_html_repr(model)}</body></html>\n"
    )
    return artifacts.write_text(target, page)


def write_card(project: Project, store: Store, ref: str | None = None) -> CardResult:
    """Stage: the card of `ref` (default: the champion, else the last trained model)."""
    return build_card(project, store, subject(project, store, ref))


def card_metrics_of(analysis: CardAnalysis) -> dict[str, float]:
    """Importances and interval bounds as run metrics (`card.importance.<feature>`, ...)."""
    import math
    import re

    def key(text: str) -> str:
        return re.sub(r"[^\w\-. /]", "_", text)

    values = {f"card.importance.{key(i.feature)}": i.mean for i in analysis.importances}
    values.update({f"card.shap.{key(name)}": value for name, value in analysis.shap.features})
    for interval in analysis.metrics:
        values[f"card.{key(interval.metric)}_ci_low"] = interval.low
        values[f"card.{key(interval.metric)}_ci_high"] = interval.high
    return {k: v for k, v in values.items() if math.isfinite(v)}


def attach_card(store: Store, run_id: str, result: CardResult) -> None:
    """The card files as artifacts of the run (under `card/`), importances and intervals as
    its metrics."""
    store.attach_files(run_id, result.files, ARTIFACT_PATH)
    store.log_run_metrics(run_id, card_metrics_of(result.analysis))
