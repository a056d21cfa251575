"""`mlops card`: gather what the card shows (lineage, data, metrics, slices, importances) and
write `reports/model_card.{md,html}`, the model diagram and the importance plot."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops import artifacts, registry
from mlops.card._metrics import card_metrics, lower_is_better, metric_fn, scorer_name, slice_metric
from mlops.card.bootstrap import Interval, bootstrap_ci
from mlops.card.importance import Importance, permutation_importances, plot_importances
from mlops.card.render import CardContent, description, to_html, to_markdown, todos
from mlops.card.slices import SliceReport, slice_report
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

    def to_json(self) -> dict[str, Any]:
        return {
            "primary": self.primary,
            "metrics": [m.to_json() for m in self.metrics],
            "slices": self.slices.to_json(),
            "importance": {
                "scoring": self.scoring,
                "features": [i.to_json() for i in self.importances],
            },
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
    scoring = scorer_name(primary, task, 0 if classes is None else len(classes))
    importances = permutation_importances(
        model, features, target, scoring, max_rows=card.importance_rows, seed=seed
    )
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
    return CardAnalysis(
        primary, intervals, report, importances, scoring, time.perf_counter() - started
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


# --------------------------------------------------------------------------- content


def _versions() -> str:
    found = [f"python {sys.version.split()[0]}"]
    for name in ("mlops", "scikit-learn", "skops", "numpy", "pandas", "mlflow"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def _estimator(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def _hyperparameters(model: Any) -> dict[str, str]:
    params = _estimator(model).get_params(deep=False)
    shown = {}
    for key, value in sorted(params.items()):
        text = repr(value).replace("|", "/").replace("\n", " ")
        shown[key] = text if len(text) <= 60 else text[:57] + "..."
    return shown


def _target_summary(target: pd.Series, task: Task, personal: bool) -> str:
    if task == "regression":
        return (
            f"mean {target.mean():.4g}, std {target.std():.4g}, "
            f"min {target.min():.4g}, max {target.max():.4g}"
        )
    counts = target.value_counts()
    total = max(int(counts.sum()), 1)
    labels = (
        [f"<redacted>#{i + 1}" for i in range(len(counts))]
        if personal
        else [str(v) for v in counts.index]
    )
    return ", ".join(
        f"{label} {int(n)} ({n / total:.0%})" for label, n in zip(labels, counts, strict=True)
    )


def _data_table(
    project: Project, schema: Schema, splits: dict[str, pd.DataFrame], lineage: dict[str, str]
) -> dict[str, list[str]]:
    paths = {"train": project.settings.paths.train, "test": project.settings.paths.test}
    order_by = project.params.split.order_by
    table: dict[str, list[str]] = {
        "split": [], "file": [], "rows": [], "md5 (DVC hash)": [], "target": [],
    }  # fmt: skip
    if order_by:
        table["time range"] = []
    personal = schema.target in schema.personal()
    for name, frame in splits.items():
        path = paths[name]
        md5 = artifacts.file_md5(path) if path.is_file() else "-"
        trained = lineage.get(tags.data_md5(name))
        if trained and trained != md5:
            md5 = f"{trained} (lineage; the file is now {md5})"
        table["split"].append(name)
        table["file"].append(f"{project.relative(path)} (source {schema.source})")
        table["rows"].append(str(len(frame)))
        table["md5 (DVC hash)"].append(md5)
        table["target"].append(_target_summary(frame[schema.target], schema.task, personal))
        if order_by:
            values = frame[order_by] if order_by in frame.columns else None
            span = "-" if values is None or values.empty else f"{values.min()} .. {values.max()}"
            table["time range"].append(span)
    return table


def _decision(
    version_tags: dict[str, str], record: dict[str, Any] | None
) -> tuple[str, dict[str, list[str]] | None]:
    if record is None and not version_tags.get(tags.VERDICT):
        return "Not registered: no promotion decision yet (`mlops promote`).", None
    source = record or {}
    verdict = source.get("verdict") or version_tags.get(tags.VERDICT, "-")
    who = source.get("decided_by") or version_tags.get(tags.DECIDED_BY, "-")
    when = source.get("decided_at") or version_tags.get(tags.DECIDED_AT, "-")
    text = f"- verdict: **{verdict}** (by {who} at {when})"
    if source.get("message"):
        text += f"\n- summary: {source['message']}"
    reason = source.get("reason") or version_tags.get(tags.REASON)
    if reason:
        text += f"\n- reason: {reason}"
    gates = source.get("gates") or []
    if not gates:
        return text, None
    table = {
        "gate": [str(g["name"]) for g in gates],
        "value": ["-" if g.get("value") is None else f"{g['value']:.4f}" for g in gates],
        "threshold": [str(g["threshold"]).replace("|", "/") for g in gates],
        "result": ["pass" if g["passed"] else "**FAIL**" for g in gates],
    }
    return text, table


def _drift_reference(project: Project, lineage: dict[str, str]) -> str:
    train = project.settings.paths.train
    md5 = lineage.get(tags.TRAIN_MD5)
    if not md5:
        return (
            "`mlops drift` compares new data with the champion's training data; this run has "
            f"no `{tags.TRAIN_MD5}` lineage tag, so it would fall back to "
            f"`{project.relative(train)}`."
        )
    where = (
        f"`{project.relative(train)}` (same md5)"
        if train.is_file() and artifacts.file_md5(train) == md5
        else f"the DVC cache (the current `{project.relative(train)}` differs)"
    )
    return (
        "While this model is champion, `mlops drift` compares new data with its training data, "
        f"found by the `{tags.TRAIN_MD5}` lineage tag: md5 `{md5}`, read from {where}."
    )


def _usage(uri: str) -> str:
    return "\n".join(
        [
            "```",
            f"mlops predict INPUT.csv OUTPUT.parquet --model {uri}",
            f"mlops serve --model {uri}",
            f"mlops explain INPUT.csv --model {uri}",
            "```",
            "",
            "The model loads through the skops allowlist (no pickle); inputs are checked "
            "against its MLflow signature.",
        ]
    )


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
    decision, gates = _decision(target.version_tags, record)
    plot = plot_importances(analysis.importances, analysis.scoring, reports / IMPORTANCE_PLOT)
    diagram = _write_diagram(target.model, reports / DIAGRAM)
    details = {
        "estimator": f"`{type(_estimator(target.model)).__name__}` "
        f"({project.params.model.estimator}, task {schema.task})",
        "model": f"`{target.uri}`",
        "run": f"`{target.run_id or '-'}`",
        "git commit": f"`{lineage.get(tags.GIT_COMMIT, '-')}`"
        + (" (dirty)" if lineage.get(tags.GIT_DIRTY) == "true" else ""),
        "params hash (sha256)": f"`{lineage.get(tags.PARAMS_SHA256, '-')}`",
        "packages": _versions(),
        "primary metric": f"`{analysis.primary}`",
    }
    content = CardContent(
        title=target.title,
        model=target.model,
        details=details,
        hyperparameters=_hyperparameters(target.model),
        intended_use=project.params.card.intended_use,
        out_of_scope=project.params.card.out_of_scope,
        data=_data_table(project, schema, splits, lineage),
        metrics=analysis.metrics,
        decision=decision,
        gates=gates,
        drift_reference=_drift_reference(project, lineage),
        slices=analysis.slices,
        importances=analysis.importances,
        importance_scoring=analysis.scoring,
        usage=_usage(target.uri),
        importance_plot=IMPORTANCE_PLOT,
        diagram=DIAGRAM,
    )
    markdown = to_markdown(content)
    md_path = artifacts.write_text(reports / CARD_MD, markdown)
    html_path = artifacts.write_text(
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


def attach_card(store: Store, run_id: str, result: CardResult) -> None:
    """The card files as artifacts of the run (under `card/`)."""
    store.attach_files(run_id, result.files, ARTIFACT_PATH)
