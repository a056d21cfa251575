"""Typed configuration: `params.yaml` (the experiment) + `configs/<env>.yaml` (the environment).

This is the only module that reads YAML. Both files load into frozen pydantic models with
`extra="forbid"`, so a typo is an error, not a silent default.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlops import catalog
from mlops.catalog import Task as Task
from mlops.errors import ConfigError

DEFAULT_PARAMS = Path("params.yaml")
DEFAULT_CONFIG = Path("configs/local.yaml")
CONFIG_ENV_VAR = "MLOPS_CONFIG"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- params.yaml


class CsvParams(_Frozen):
    """How to read a CSV source (each None: sniffed from the file)."""

    sep: str | None = None
    decimal: str | None = None
    encoding: str | None = None
    #: Extra strings read as missing values (besides pandas' defaults).
    na_values: list[str] = Field(default_factory=list)


class DataParams(_Frozen):
    """Where the data comes from and what to learn."""

    source: str = "builtin:penguins"
    target: str = "species"
    task: Task = "classification"
    features: list[str] | None = None
    drop: list[str] = Field(default_factory=list)
    #: Ordered categories: column -> levels, lowest first (encoded in order, not one-hot).
    ordinal: dict[str, list[str]] = Field(default_factory=dict)
    csv: CsvParams = Field(default_factory=CsvParams)


class SplitParams(_Frozen):
    test_size: float = Field(default=0.2, gt=0.0, lt=1.0)
    seed: int = 42
    stratify: bool = True
    order_by: str | None = None


class ModelParams(_Frozen):
    estimator: str = "hist_gradient_boosting"
    #: Hyperparameters per estimator (`{random_forest: {n_estimators: 300}, ...}`: switching
    #: `estimator` alone is enough), or flat: the hyperparameters of `estimator` only.
    params: dict[str, Any] = Field(default_factory=dict)
    #: `balanced`: weight classes inversely to their frequency (rare positive classes).
    class_weight: Literal["balanced"] | None = None
    #: Binary classifiers: the probability of the second class above which it is predicted.
    #: None: 0.5 (the estimator's own); a number in (0, 1); `auto`: chosen on the training split
    #: only, by 5-fold cross-validated probabilities, to maximise balanced accuracy.
    threshold: Literal["auto"] | Annotated[float, Field(gt=0.0, lt=1.0)] | None = None

    def sections(self) -> dict[str, Any]:
        """The per-estimator sections of `params` (estimator name -> its hyperparameters)."""
        return {k: v for k, v in self.params.items() if k in catalog.ESTIMATOR_NAMES}

    def per_estimator(self) -> bool:
        """Whether `params` is keyed by estimator names (not the flat form)."""
        return bool(self.sections())

    def flat(self) -> dict[str, Any]:
        """Keys of `params` that are not estimator sections: the chosen estimator's (overrides
        of its section, e.g. `--set model.params.max_iter=50` or `dvc exp run -S ...`)."""
        return {k: v for k, v in self.params.items() if k not in catalog.ESTIMATOR_NAMES}

    def active(self) -> dict[str, Any]:
        """The chosen estimator's hyperparameters: its section, with flat keys over it."""
        section = self.params.get(self.estimator)
        return {**(section if isinstance(section, dict) else {}), **self.flat()}

    def params_key(self, estimator: str | None = None) -> str:
        """Where an estimator's hyperparameters are written (`model.params[.<estimator>]`)."""
        if self.per_estimator():
            return f"model.params.{estimator or self.estimator}"
        return "model.params"


class TrainParams(_Frozen):
    """How fits and predictions run (not what they compute)."""

    #: Native threads (OpenMP/BLAS) per fit and predict; None: all cores (the libraries' default).
    n_jobs: int | None = Field(default=None, ge=1)


class Threshold(_Frozen):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError("a threshold needs `min` or `max`")
        return self


class GateParams(_Frozen):
    metrics: dict[str, Threshold] = Field(default_factory=dict)
    primary: str | None = None
    max_regression: float = Field(default=0.01, ge=0.0)
    #: `auto`: relative for error metrics in the target's units (rmse, mae), absolute otherwise.
    regression_mode: Literal["absolute", "relative", "auto"] = "auto"
    #: Metrics a candidate may not regress on beyond the tolerance (None: every gated metric).
    guard: list[str] | None = None


DriftMethod = Literal["auto", "ks", "chisquare", "psi", "jensenshannon", "wasserstein"]


class DriftParams(_Frozen):
    """`mlops drift`: per-column methods, thresholds and the dataset verdict rule."""

    current: str = "data/processed/test.parquet"
    #: Columns never compared (besides `data.drop` and identifier columns).
    exclude: list[str] = Field(default_factory=list)
    numeric_method: DriftMethod = "auto"
    categorical_method: DriftMethod = "auto"
    columns: dict[str, DriftMethod] = Field(default_factory=dict)
    #: Distance thresholds by method (psi, jensenshannon, wasserstein); p-value tests use alpha.
    thresholds: dict[str, float] = Field(default_factory=dict)
    #: Distance thresholds by column (win over `thresholds`).
    column_thresholds: dict[str, float] = Field(default_factory=dict)
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    correction: Literal["bh", "bonferroni", "none"] = "bh"
    share: float = Field(default=0.5, gt=0.0, le=1.0)
    critical: list[str] = Field(default_factory=list)
    large_sample: int = Field(default=1000, ge=1)
    min_rows: int = Field(default=30, ge=1)
    #: A numeric column with at most this many distinct values is compared as categorical.
    few_unique: int = Field(default=5, ge=1)
    #: An absolute change in a column's missing-value rate at least this large is flagged.
    missing_change: float = Field(default=0.05, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _known_methods(self) -> DriftParams:
        distances = ("psi", "jensenshannon", "wasserstein")
        for method, value in self.thresholds.items():
            if method not in distances:
                raise ValueError(
                    f"thresholds: {method!r} is not a distance method ({', '.join(distances)}); "
                    "p-value tests (ks, chisquare) use `alpha`"
                )
            if not value > 0:
                raise ValueError(f"thresholds: {method} must be > 0")
        for column, value in self.column_thresholds.items():
            if not value > 0:
                raise ValueError(f"column_thresholds: {column} must be > 0")
        if self.categorical_method in ("ks", "wasserstein"):
            raise ValueError(
                f"categorical_method: {self.categorical_method} needs numbers "
                "(use auto, chisquare, psi or jensenshannon)"
            )
        return self


class Params(_Frozen):
    """Everything in `params.yaml`: what DVC tracks per key."""

    data: DataParams = Field(default_factory=DataParams)
    split: SplitParams = Field(default_factory=SplitParams)
    model: ModelParams = Field(default_factory=ModelParams)
    train: TrainParams = Field(default_factory=TrainParams)
    gate: GateParams = Field(default_factory=GateParams)
    drift: DriftParams = Field(default_factory=DriftParams)


# --------------------------------------------------------------------------- configs/*.yaml


class PathSettings(_Frozen):
    raw: Path = Path("data/raw/dataset.parquet")
    schema_file: Path = Field(default=Path("data/schema.json"), alias="schema")
    train: Path = Path("data/processed/train.parquet")
    test: Path = Path("data/processed/test.parquet")
    model_dir: Path = Path("models")
    reports: Path = Path("reports")
    #: Registry versions fetched from a remote artifact store, kept for scoring processes.
    model_cache: Path = Path(".mlops/model-cache")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _inside_project(self) -> PathSettings:
        """Every path the toolkit writes stays inside the project: no `..`, no absolute paths."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value.is_absolute() or ".." in value.parts:
                raise ValueError(f"{name}: {value} must be a relative path inside the project")
        return self

    @property
    def model_file(self) -> Path:
        return self.model_dir / "model.skops"

    @property
    def run_file(self) -> Path:
        return self.model_dir / "run.json"


class TrackingSettings(_Frozen):
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "mlops"
    artifact_root: Path = Path("mlartifacts")
    #: Seconds one request to a tracking server may take (MLflow's MLFLOW_HTTP_REQUEST_TIMEOUT).
    timeout: float = Field(default=30.0, gt=0.0, le=3600.0)
    #: Retries of a failed request to a live server (MLflow's MLFLOW_HTTP_REQUEST_MAX_RETRIES).
    retries: int = Field(default=2, ge=0, le=10)


class RegistrySettings(_Frozen):
    model_name: str = "mlops-model"
    champion_alias: str = "champion"
    previous_alias: str = "previous"
    challenger_alias: str = "challenger"


class ServeSettings(_Frozen):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    reload_interval: float = Field(default=5.0, gt=0.0)


class DvcSettings(_Frozen):
    remote: str | None = None  # None: the repository's default DVC remote


class Settings(_Frozen):
    """Everything in `configs/<env>.yaml`: where things live on this machine."""

    paths: PathSettings = Field(default_factory=PathSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    dvc: DvcSettings = Field(default_factory=DvcSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)


class Config(_Frozen):
    """The validated pair, plus where it came from and the overrides applied."""

    params: Params
    settings: Settings
    params_path: Path
    config_path: Path
    overrides: tuple[str, ...] = ()

    def params_flat(self) -> dict[str, str]:
        """`params.yaml` as flat `section.key` strings (what MLflow records)."""
        return flatten(self.params.model_dump(mode="json"))

    def params_hash(self) -> str:
        """A stable hash of the effective params (lineage)."""
        blob = json.dumps(self.params.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


# --------------------------------------------------------------------------- cross-field checks


def _listed(names: list[str] | tuple[str, ...]) -> str:
    return ", ".join(names)


def _check_data(data: DataParams) -> list[str]:
    problems = []
    if data.target in data.drop:
        problems.append(
            f"data.drop: lists the target {data.target!r} (the column the model learns; "
            "remove it from data.drop)"
        )
    if data.features is not None:
        if data.target in data.features:
            problems.append(
                f"data.features: lists the target {data.target!r}; "
                "a model must not see its own label"
            )
        for name in data.features:
            if name in data.drop:
                problems.append(
                    f"data.features: {name!r} is also in data.drop (keep it in one of them)"
                )
    for name in data.ordinal:
        if name in data.drop:
            problems.append(f"data.ordinal.{name}: the column is in data.drop")
    return problems


def _check_model(model: ModelParams, task: Task) -> list[str]:
    problems = []
    known = catalog.estimator_names(task)
    if model.estimator not in known:
        problems.append(
            f"model.estimator: unknown estimator {model.estimator!r} for {task} "
            f"(known: {_listed(known)})"
        )
    sections = model.sections()
    for name, section in sections.items():
        if name not in known:
            problems.append(
                f"model.params.{name}: {name} is not a {task} estimator (known: {_listed(known)})"
            )
        elif section is not None and not isinstance(section, dict):
            problems.append(
                f"model.params.{name}: expected a mapping of hyperparameters (got {section!r})"
            )
    if model.threshold is not None and task != "classification":
        problems.append(
            f"model.threshold: a decision threshold is for binary classification, but data.task "
            f"is {task}"
        )
    if model.class_weight is not None:
        if task != "classification":
            problems.append(
                f"model.class_weight: {model.class_weight} weighs classes, but data.task is "
                f"{task}; set it to null"
            )
        elif "class_weight" in model.active():
            problems.append(
                f"model.class_weight: also set as {model.params_key()}.class_weight; keep one"
            )
    return problems


def _finite(key: str, value: float | None) -> list[str]:
    if value is None or math.isfinite(value):
        return []
    return [f"{key}: must be a finite number (got {value})"]


def _check_gate(gate: GateParams, task: Task) -> list[str]:
    problems = []
    known = catalog.metric_names(task)
    listed = _listed(known)
    for name, bound in gate.metrics.items():
        key = f"gate.metrics.{name}"
        if name not in known:
            problems.append(f"{key}: {name!r} is not a {task} metric (known: {listed})")
        problems += _finite(f"{key}.min", bound.min)
        problems += _finite(f"{key}.max", bound.max)
        low, high = bound.min, bound.max
        if low is not None and high is not None and low > high:
            problems.append(f"{key}: min {low:g} is above max {high:g}; no value can pass")
    if gate.primary is not None and gate.primary not in known:
        problems.append(
            f"gate.primary: {gate.primary!r} is not computed for {task} (known: {listed})"
        )
    for name in gate.guard or []:
        if name not in known:
            problems.append(f"gate.guard: {name!r} is not a {task} metric (known: {listed})")
    problems += _finite("gate.max_regression", gate.max_regression)
    return problems


def check_params(params: Params) -> list[str]:
    """Every cross-field rule of `params.yaml` that needs no data and no sklearn.

    One line per problem, each starting with the key (`gate.primary: ...`); empty when valid.
    Hyperparameter values are checked by `mlops.train.check_model_params` (it needs sklearn).
    """
    task = params.data.task
    return [
        *_check_data(params.data),
        *_check_model(params.model, task),
        *_check_gate(params.gate, task),
    ]


# --------------------------------------------------------------------------- loading


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested dicts into `a.b.c` keys with string values."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return flat


class _Loader(yaml.SafeLoader):
    """YAML 1.1 safe loading, but `1e-3` is a float (as in YAML 1.2), not the string "1e-3"."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects


def _read_yaml(path: Path, *, required: bool) -> dict[str, Any]:
    if not path.exists():
        if required:
            raise ConfigError(f"{path}: file not found")
        return {}
    try:
        loaded = _load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return loaded


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from `path` (ConfigError naming the file when missing or invalid)."""
    return _read_yaml(path, required=True)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse `key.path=value` (the value is read as YAML: `0.1`, `true`, `[a, b]`)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected key.path=value")
    try:
        value = _load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r}: value is not valid YAML") from exc
    return key.strip().split("."), value


def apply_overrides(tree: dict[str, Any], overrides: tuple[str, ...]) -> dict[str, Any]:
    """Return a copy of `tree` with every `key.path=value` applied."""
    result: dict[str, Any] = json.loads(json.dumps(tree, default=str))
    for text in overrides:
        keys, value = parse_override(text)
        node = result
        for key in keys[:-1]:
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text!r}: {key!r} is not a section")
            node = child
        node[keys[-1]] = value
    return result


def _describe(error: Any, path: Path) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key {loc!r}"
    if kind == "missing":
        return f"{path}: missing key {loc!r}"
    given = error.get("input")
    shown = f" (got {given!r})" if not isinstance(given, dict | list) else ""
    return f"{path}: {loc}: {error['msg']}{shown}"


def _invalid(exc: ValidationError, path: Path) -> ConfigError:
    """Every validation error of a file, one line each."""
    return ConfigError(*dict.fromkeys(_describe(error, path) for error in exc.errors()))


def _parse_params(path: Path, overrides: tuple[str, ...]) -> Params:
    tree = apply_overrides(_read_yaml(path, required=True), overrides)
    try:
        return Params.model_validate(tree)
    except ValidationError as exc:
        raise _invalid(exc, path) from exc


def _raise_problems(path: Path, problems: list[str]) -> None:
    if problems:
        raise ConfigError(*(f"{path}: {problem}" for problem in problems))


def load_params(path: Path = DEFAULT_PARAMS, overrides: tuple[str, ...] = ()) -> Params:
    """Load and validate `params.yaml`: the types, then every cross-field rule at once."""
    params = _parse_params(path, overrides)
    _raise_problems(path, check_params(params))
    return params


def load_settings(path: Path = DEFAULT_CONFIG, *, required: bool | None = None) -> Settings:
    """Load `configs/<env>.yaml`; the default file may be absent (every setting has a default)."""
    tree = _read_yaml(path, required=path != DEFAULT_CONFIG if required is None else required)
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        raise _invalid(exc, path) from exc


def resolve_config_path(path: Path | None) -> Path:
    if path is not None:
        return path
    from_env = os.environ.get(CONFIG_ENV_VAR)
    return Path(from_env) if from_env else DEFAULT_CONFIG


def load_config(
    params_path: Path = DEFAULT_PARAMS,
    config_path: Path | None = None,
    overrides: tuple[str, ...] = (),
    *,
    default_config: Path = DEFAULT_CONFIG,
    checks: Callable[[Params, Settings], list[str]] | None = None,
) -> Config:
    """Load and validate both files; `overrides` are `key.path=value` strings for params.

    The config file may be missing only when it is `default_config` (every setting has a default).
    `checks`: more rules on the params (problems named like `check_params`'), reported with
    theirs in one ConfigError.
    """
    resolved = resolve_config_path(config_path)
    params = _parse_params(params_path, overrides)
    settings = load_settings(resolved, required=resolved != default_config)
    problems = check_params(params)
    if checks is not None:
        problems += checks(params, settings)
    _raise_problems(params_path, problems)
    return Config(
        params=params,
        settings=settings,
        params_path=params_path,
        config_path=resolved,
        overrides=tuple(overrides),
    )
