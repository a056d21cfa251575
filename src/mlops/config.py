"""Typed configuration: `params.yaml` (the experiment) + `configs/<env>.yaml` (the environment).

This is the only module that reads YAML. Both files load into frozen pydantic models with
`extra="forbid"`, so a typo is an error, not a silent default.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlops.errors import ConfigError

DEFAULT_PARAMS = Path("params.yaml")
DEFAULT_CONFIG = Path("configs/local.yaml")
CONFIG_ENV_VAR = "MLOPS_CONFIG"

Task = Literal["classification", "regression"]


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
    params: dict[str, Any] = Field(default_factory=dict)
    #: `balanced`: weight classes inversely to their frequency (rare positive classes).
    class_weight: Literal["balanced"] | None = None


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


def _describe(exc: ValidationError, path: Path) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(part) for part in first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key {loc!r}"
    if kind == "missing":
        return f"{path}: missing key {loc!r}"
    given = first.get("input")
    shown = f" (got {given!r})" if not isinstance(given, dict | list) else ""
    return f"{path}: {loc}: {first['msg']}{shown}"


def load_params(path: Path = DEFAULT_PARAMS, overrides: tuple[str, ...] = ()) -> Params:
    tree = apply_overrides(_read_yaml(path, required=True), overrides)
    try:
        return Params.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from exc


def load_settings(path: Path = DEFAULT_CONFIG, *, required: bool | None = None) -> Settings:
    """Load `configs/<env>.yaml`; the default file may be absent (every setting has a default)."""
    tree = _read_yaml(path, required=path != DEFAULT_CONFIG if required is None else required)
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from exc


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
) -> Config:
    """Load and validate both files; `overrides` are `key.path=value` strings for params.

    The config file may be missing only when it is `default_config` (every setting has a default).
    """
    resolved = resolve_config_path(config_path)
    params = load_params(params_path, overrides)
    settings = load_settings(resolved, required=resolved != default_config)
    return Config(
        params=params,
        settings=settings,
        params_path=params_path,
        config_path=resolved,
        overrides=tuple(overrides),
    )
