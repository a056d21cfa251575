"""The project: its root (found like git and DVC find theirs), its config, and resolved paths.

Rule: the root is the nearest folder, from the working directory upwards, that holds
`params.yaml`. `--project DIR` or `MLOPS_PROJECT` name it instead. Every configured path, the
SQLite store, the artifact root and the model cache resolve against the root, so a command
behaves the same from any folder inside the project.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlops import catalog
from mlops.artifacts import read_json
from mlops.config import (
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG,
    DEFAULT_PARAMS,
    Config,
    Params,
    PathSettings,
    Settings,
    load_config,
)
from mlops.errors import ConfigError, MlopsError

PROJECT_ENV_VAR = "MLOPS_PROJECT"
#: The file that marks a project root.
MARKER = DEFAULT_PARAMS.name


def find_root(start: Path | None = None) -> Path | None:
    """The nearest folder from `start` (default: the working directory) upwards with `params.yaml`."""
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        if (folder / MARKER).is_file():
            return folder
    return None


@dataclass(frozen=True)
class Project:
    """A project root and its validated config, with every path absolute under the root."""

    root: Path
    #: The config with `settings` resolved: paths, SQLite store and artifact root are absolute.
    config: Config
    #: The user's explicit opt-in to load pickle models or types beyond the allowlist.
    allow_unsafe_model: bool = False

    @property
    def params(self) -> Params:
        return self.config.params

    @property
    def settings(self) -> Settings:
        return self.config.settings

    @property
    def paths(self) -> PathSettings:
        return self.config.settings.paths

    def resolve(self, path: str | Path) -> Path:
        """A path from the config, made absolute against the root."""
        given = Path(path).expanduser()
        return given if given.is_absolute() else self.root / given

    def relative(self, path: Path) -> str:
        """`path` relative to the root where it lies inside it (for messages and records)."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def source_file(self) -> Path | None:
        """`data.source` as a file path (None for a builtin dataset)."""
        source = self.params.data.source
        return None if source.startswith("builtin:") else self.resolve(source)


def _resolved_settings(settings: Settings, root: Path) -> Settings:
    from mlops.tracking.uri import parse_tracking_uri

    paths = settings.paths
    absolute = {name: root / getattr(paths, name) for name in type(paths).model_fields}
    # model_copy skips validation: the relative-path rule applies to what users write.
    resolved_paths = paths.model_copy(update=absolute)
    tracking = settings.tracking
    artifacts = tracking.artifact_root
    if ".." in artifacts.parts or not (root / artifacts).is_relative_to(root):
        raise ConfigError(
            f"tracking.artifact_root: {artifacts} is outside the project ({root}); use a "
            "relative path inside it (shared artifacts belong on a tracking server)"
        )
    uri = parse_tracking_uri(tracking.uri, root)
    resolved_tracking = tracking.model_copy(
        update={"uri": uri.uri, "artifact_root": root / tracking.artifact_root}
    )
    return settings.model_copy(update={"paths": resolved_paths, "tracking": resolved_tracking})


def _explicit_root(project_dir: Path | None) -> Path | None:
    if project_dir is None:
        env = os.environ.get(PROJECT_ENV_VAR)
        project_dir = Path(env) if env else None
    if project_dir is None:
        return None
    root = project_dir.expanduser().absolute()
    if not (root / MARKER).is_file():
        raise ConfigError(f"{root}: not an mlops project (no {MARKER})")
    return root


def open_project(
    project_dir: Path | None = None,
    *,
    params_path: Path | None = None,
    config_path: Path | None = None,
    overrides: tuple[str, ...] = (),
    allow_unsafe_model: bool = False,
    check_schema: bool = True,
) -> Project:
    """Find the root, load and validate the config, and resolve its paths.

    `params_path` and `config_path` given by the user are taken as typed (relative to the
    working directory); the defaults and `MLOPS_CONFIG` are relative to the root.
    `check_schema`: also check the drift columns against the schema contract when there is
    one (`mlops data ingest`, which rewrites the contract, may pass False).
    """
    root = _explicit_root(project_dir) or find_root()
    if root is None and params_path is not None:
        root = params_path.expanduser().absolute().parent
    if root is None:
        raise ConfigError(
            f"not inside an mlops project (no {MARKER} here or above); "
            "run `mlops init` or pass --project"
        )
    params_file = params_path.expanduser().absolute() if params_path else root / DEFAULT_PARAMS
    if config_path is not None:
        config_file = config_path.expanduser().absolute()
    else:
        from_env = os.environ.get(CONFIG_ENV_VAR)
        config_file = root / (Path(from_env) if from_env else DEFAULT_CONFIG)

    def schema_rules(params: Params, settings: Settings) -> list[str]:
        return check_drift_columns(params, root / settings.paths.schema_file)

    config = load_config(
        params_file,
        config_file,
        overrides,
        default_config=root / DEFAULT_CONFIG,
        checks=schema_rules if check_schema else None,
    )
    resolved = config.model_copy(update={"settings": _resolved_settings(config.settings, root)})
    return Project(root=root, config=resolved, allow_unsafe_model=allow_unsafe_model)


def _contract_columns(params: Params, schema_file: Path) -> list[str] | None:
    """The column names of the schema contract, when there is one for the configured data."""
    if not schema_file.is_file():
        return None
    try:
        contract = read_json(schema_file)
        columns = [str(column["name"]) for column in contract["columns"]]
        source, target = contract.get("source"), contract.get("target")
    except (MlopsError, KeyError, TypeError, AttributeError):
        return None  # an unreadable contract: the stage that reads it says so
    if source != params.data.source or target != params.data.target:
        return None  # the contract of other data: `mlops data ingest` replaces it
    return columns


def check_drift_columns(params: Params, schema_file: Path) -> list[str]:
    """Columns named in the `drift` section that the schema contract does not have.

    Only once there is a contract (after `mlops data ingest`) for the configured source and
    target; model outputs (`prediction...`) are not data columns and always allowed.
    """
    columns = _contract_columns(params, schema_file)
    if columns is None:
        return []
    drift = params.drift
    named = {
        "drift.columns": list(drift.columns),
        "drift.critical": drift.critical,
        "drift.column_thresholds": list(drift.column_thresholds),
        "drift.exclude": drift.exclude,
        "card.sensitive": params.card.sensitive,
    }
    known = set(columns)
    shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
    return [
        f"{key}: column {name!r} is not in the schema contract {schema_file.name} "
        f"(columns: {shown})"
        for key, names in named.items()
        for name in names
        if name not in known and not name.startswith(catalog.PREDICTION_PREFIX)
    ]
