"""What the card says beside the measurements: details, data, decision, drift, usage."""

from __future__ import annotations

import sys
from importlib import metadata
from typing import TYPE_CHECKING, Any

from mlops import artifacts
from mlops.config import Task
from mlops.data import Schema
from mlops.project import Project
from mlops.tracking import tags

if TYPE_CHECKING:
    import pandas as pd


def versions() -> str:
    found = [f"python {sys.version.split()[0]}"]
    for name in ("mlops", "scikit-learn", "skops", "numpy", "pandas", "mlflow"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def estimator(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def hyperparameters(model: Any) -> dict[str, str]:
    params = estimator(model).get_params(deep=False)
    shown = {}
    for key, value in sorted(params.items()):
        text = repr(value).replace("|", "/").replace("\n", " ")
        shown[key] = text if len(text) <= 60 else text[:57] + "..."
    return shown


def target_summary(target: pd.Series, task: Task, personal: bool) -> str:
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


def data_table(
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
        unlabelled = schema.unlabelled_rows
        dropped = f"; {unlabelled} rows without a target dropped" if unlabelled else ""
        table["file"].append(f"{project.relative(path)} (source {schema.source}{dropped})")
        table["rows"].append(str(len(frame)))
        table["md5 (DVC hash)"].append(md5)
        table["target"].append(target_summary(frame[schema.target], schema.task, personal))
        if order_by:
            values = frame[order_by] if order_by in frame.columns else None
            span = "-" if values is None or values.empty else f"{values.min()} .. {values.max()}"
            table["time range"].append(span)
    return table


def decision(
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


def drift_reference(project: Project, lineage: dict[str, str]) -> str:
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


def usage(uri: str) -> str:
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
