"""The project's files rendered from a `ProjectSpec`, and the spec inferred from the data."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata, resources
from typing import TYPE_CHECKING, Any

from mlops import __version__, catalog
from mlops.config import Task

if TYPE_CHECKING:
    import pandas as pd

#: template -> file in the project.
TEMPLATES = {
    "params.yaml.j2": "params.yaml",
    "configs/local.yaml.j2": "configs/local.yaml",
    "configs/team.yaml.j2": "configs/team.yaml",
    "gitignore.j2": ".gitignore",
    "dvcignore.j2": ".dvcignore",
    "Makefile.j2": "Makefile",
    "github/ci.yml.j2": ".github/workflows/ci.yml",
    "requirements.txt.j2": "requirements.txt",
}
#: The monitoring bundle (Prometheus config, alert rules and their tests, Grafana dashboard and
#: provisioning): copied as they are (no `.j2`: `{{ $labels }}` is theirs, not Jinja's). This
#: repository's `monitoring/` is the same files (a test asserts it).
MONITORING_FILES = (
    "monitoring/prometheus.yml",
    "monitoring/rules/alerts.yml",
    "monitoring/rules/alerts_test.yml",
    "monitoring/grafana/dashboard.json",
    "monitoring/grafana/provisioning/datasources/prometheus.yml",
    "monitoring/grafana/provisioning/dashboards/mlops.yml",
)
TEMPLATES.update({path: path for path in MONITORING_FILES})
#: The files of this repository's example project that the templates produce.
EXAMPLE_FILES = ("params.yaml", "configs/local.yaml", "configs/team.yaml")
#: A numeric target with at most this many distinct whole-number values is a class label.
MAX_CLASS_VALUES = 20
#: A minority class below this share of rows: the ranking metric is average precision.
RARE_CLASS_SHARE = 0.10


@dataclass(frozen=True)
class ProjectSpec:
    """Everything the templates need."""

    source: str
    target: str
    task: Task
    model_name: str
    gates: dict[str, dict[str, float]]
    primary: str
    task_reason: str = ""
    experiment: str = "mlops"
    estimator: str = "hist_gradient_boosting"
    model_params: dict[str, Any] = field(
        default_factory=lambda: {"max_iter": 100, "learning_rate": 0.1}
    )
    drop: list[str] = field(default_factory=list)
    class_weight: str | None = None


#: The search space `mlops init` writes under `tune.space` for each estimator.
TUNE_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "hist_gradient_boosting": {
        "learning_rate": {"type": "log", "low": 0.01, "high": 0.3},
        "max_iter": {"type": "int", "low": 50, "high": 300, "step": 50},
        "max_leaf_nodes": {"type": "int", "low": 8, "high": 64},
        "min_samples_leaf": {"type": "int", "low": 5, "high": 50},
    },
    "random_forest": {
        "n_estimators": {"type": "int", "low": 100, "high": 500, "step": 100},
        "max_depth": {"type": "int", "low": 3, "high": 20},
        "min_samples_leaf": {"type": "int", "low": 1, "high": 10},
    },
    "extra_trees": {
        "n_estimators": {"type": "int", "low": 100, "high": 500, "step": 100},
        "max_depth": {"type": "int", "low": 3, "high": 20},
        "min_samples_leaf": {"type": "int", "low": 1, "high": 10},
    },
    "logistic_regression": {"C": {"type": "log", "low": 0.001, "high": 100}},
    "ridge": {"alpha": {"type": "log", "low": 0.001, "high": 100}},
}


#: This repository's example project: the Palmer penguins, shipped in a pip package.
EXAMPLE = ProjectSpec(
    source="builtin:penguins",
    target="species",
    task="classification",
    model_name="penguins-classifier",
    gates={"roc_auc": {"min": 0.95}, "balanced_accuracy": {"min": 0.9}},
    primary="roc_auc",
)


# --------------------------------------------------------------------------- rendering


def _flow(value: Any) -> str:
    """A value as one line of YAML (`{min: 0.9}`, `[a, b]`, `null`, `0.1`)."""
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    return text.removesuffix("...").strip()


def _space(spec: dict[str, Any]) -> str:
    """A search range as one line of YAML, keys in the order written (`{type: log, low: ...}`)."""
    return "{" + ", ".join(f"{key}: {_flow(value)}" for key, value in spec.items()) + "}"


def requirement() -> str:
    """How `make setup` installs this toolkit: a local path or VCS URL when it was installed
    from one, else the exact released version."""
    try:
        dist = metadata.distribution("mlops")
        direct = dist.read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return f"mlops=={__version__}"
    if direct:
        info = json.loads(direct)
        url = str(info.get("url", ""))
        vcs = info.get("vcs_info")
        if isinstance(vcs, dict) and vcs.get("vcs") == "git":
            return f"mlops @ git+{url}@{vcs.get('commit_id', '')}"
        if url.startswith("file://"):
            return f"mlops @ {url}"
    return f"mlops=={dist.version}"


def render(spec: ProjectSpec, *, pinned: str | None = None) -> dict[str, str]:
    """The project's files (path -> text) rendered from the packaged templates."""
    import jinja2

    folder = resources.files("mlops") / "templates" / "project"
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    env.filters["flow"] = _flow
    env.filters["space"] = _space
    values = {
        "source": spec.source,
        "target": spec.target,
        "task": spec.task,
        "task_reason": spec.task_reason,
        "drop": spec.drop,
        "estimator": spec.estimator,
        "estimators": " | ".join(catalog.estimator_names(spec.task)),
        "model_params": spec.model_params,
        "tune_space": TUNE_SPACES.get(spec.estimator, {}),
        "class_weight": spec.class_weight,
        "gates": spec.gates,
        "primary": spec.primary,
        "model_name": spec.model_name,
        "experiment": spec.experiment,
        "requirement": pinned or requirement(),
        "created": datetime.now(UTC).date().isoformat(),
    }
    files: dict[str, str] = {}
    for template, target in TEMPLATES.items():
        text = (folder / template).read_text(encoding="utf-8")
        files[target] = env.from_string(text).render(values) if template.endswith(".j2") else text
    return files


# --------------------------------------------------------------------------- inference


def infer_task(series: pd.Series) -> tuple[Task, str]:
    """classification for text, booleans or few whole-number values; else regression (and why)."""
    import pandas as pd

    present = series.dropna()
    distinct = int(present.nunique())
    if pd.api.types.is_bool_dtype(series.dtype):
        return "classification", "the target is true/false"
    if not pd.api.types.is_numeric_dtype(series.dtype):
        return "classification", f"the target holds text labels ({distinct} distinct)"
    whole = bool((present == present.round()).all()) if len(present) else True
    if whole and distinct <= MAX_CLASS_VALUES:
        return "classification", f"the target has {distinct} distinct whole-number values"
    return "regression", f"the target is numeric with {distinct} distinct values"


def _round(value: float, digits: int = 2) -> float:
    return float(round(value, digits))


def default_gates(
    task: Task, target: pd.Series
) -> tuple[dict[str, dict[str, float]], str, list[str]]:
    """Gates a constant predictor cannot pass, a primary metric, and notes for the user."""
    present = target.dropna()
    if task == "regression":
        spread = float(present.astype(float).std()) if len(present) > 1 else 0.0
        gates = {"r2": {"min": 0.05}, "rmse": {"max": float(f"{spread:.4g}")}}
        notes = [
            "gates: r2 >= 0.05 and rmse <= the target's standard deviation "
            "(a constant prediction fails both); tighten them once you know the model"
        ]
        return gates, "r2", notes
    shares = present.astype(str).value_counts(normalize=True)
    classes = len(shares)
    minority = float(shares.min()) if classes else 0.0
    chance = 1.0 / max(classes, 2)
    balanced_floor = _round(chance + (1 - chance) * 0.2)
    notes = [
        f"{classes} classes; the rarest is {shares.idxmin()!r} at {minority:.1%} of rows",
    ]
    if classes == 2 and minority < RARE_CLASS_SHARE:
        floor = _round(max(2 * minority, minority + 0.05))
        gates = {"average_precision": {"min": floor}, "balanced_accuracy": {"min": balanced_floor}}
        notes.append(
            "rare positive class: gated on average precision (PR-AUC, chance = the class share) "
            "and balanced accuracy; accuracy would reward predicting the majority class"
        )
        notes.append(
            "model.class_weight: balanced (the rare class weighs as much as the common one); "
            "set it to null to train on the raw class balance"
        )
        return gates, "average_precision", notes
    gates = {"roc_auc": {"min": 0.7}, "balanced_accuracy": {"min": balanced_floor}}
    notes.append(
        f"gates: roc_auc >= 0.7 and balanced accuracy >= {balanced_floor} "
        f"(chance is {chance:.2f}); tighten them once you know the model"
    )
    return gates, "roc_auc", notes
