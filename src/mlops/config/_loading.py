"""Reading both files: YAML, `--set` overrides, validation into one `Config`."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlops.config._checks import check_params
from mlops.config._params import Params, _Frozen
from mlops.config._settings import Settings
from mlops.errors import ConfigError

DEFAULT_PARAMS = Path("params.yaml")
DEFAULT_CONFIG = Path("configs/local.yaml")
CONFIG_ENV_VAR = "MLOPS_CONFIG"


class Config(_Frozen):
    """The validated pair, plus where it came from and the overrides applied."""

    params: Params
    settings: Settings
    params_path: Path
    config_path: Path
    overrides: tuple[str, ...] = ()

    def params_flat(self) -> dict[str, str]:
        """`params.yaml` as flat `section.key` strings (what MLflow records).

        A flat hyperparameter over per-estimator sections (`--set model.params.max_iter=50`)
        is recorded in the chosen estimator's section, the value the model was fitted with:
        not beside a stale section value that differs from it.
        """
        tree = self.params.model_dump(mode="json")
        model = self.params.model
        if model.per_estimator() and model.flat():
            sections = model.sections()
            tree["model"]["params"] = {**sections, model.estimator: model.active()}
        return flatten(tree)

    def params_hash(self) -> str:
        """A stable hash of the effective params (lineage)."""
        blob = json.dumps(self.params.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


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


#: The most values a config may expand to through anchors and aliases (a "billion laughs" file
#: is a few lines that expand to 10^9 values; real configs are a few hundred).
MAX_EXPANDED_NODES = 100_000


class _Loader(yaml.SafeLoader):
    """YAML 1.1 safe loading, but `1e-3` is a float (as in YAML 1.2), not the string "1e-3";
    a key given twice in one mapping is refused (YAML says keys are unique; PyYAML keeps the
    last silently)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    duplicate = key in seen
                except TypeError:  # an unhashable key: the base class explains it
                    break
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


class YamlShapeError(yaml.YAMLError):
    """A document that aliases itself, or expands past MAX_EXPANDED_NODES."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


def _check_expansion(root: Any) -> None:
    """Refuse an alias cycle and a document whose aliases expand past MAX_EXPANDED_NODES: each
    node's expanded size is computed once (memoised), so checking costs the composed size."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise YamlShapeError("recursive alias (an anchor used inside itself)", node.start_mark)
        active.add(key)
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        else:
            total = 1
        active.discard(key)
        if total > MAX_EXPANDED_NODES:
            raise YamlShapeError(
                f"aliases expand to more than {MAX_EXPANDED_NODES:,} values", node.start_mark
            )
        sizes[key] = total
        return total

    size(root)


def _load_yaml(text: str) -> Any:
    """Safe YAML (no arbitrary objects), duplicates refused, alias expansion bounded."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    except RecursionError as exc:
        raise YamlShapeError("nested too deeply", None) from exc
    finally:
        loader.dispose()


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
        problem = getattr(exc, "problem", None)
        shape = (
            f" ({problem})"
            if isinstance(exc, YamlShapeError | yaml.constructor.ConstructorError) and problem
            else ""
        )
        raise ConfigError(f"{path}{where}: not valid YAML{shape}") from exc
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
        problem = getattr(exc, "problem", None)
        shape = f" ({problem})" if isinstance(exc, YamlShapeError) and problem else ""
        raise ConfigError(f"--set {text!r}: value is not valid YAML{shape}") from exc
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
