"""Shell completion of values: registered versions and @aliases, run ids, estimator names.

Completion runs on every Tab press, so it stays cheap: the project's YAML files and the
embedded SQLite store are read directly (sqlite3, read-only), MLflow and pydantic are never
imported (the defaults and the URI parser come from the dependency-free `mlops.defaults`), and
any problem (no project, a server store, a locked or missing database) completes nothing.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from typer._click.shell_completion import CompletionItem

#: What a completion callback returns: (value, help shown by zsh and fish).
Items = list[tuple[str, str]]
#: A completion waits this long for a SQLite lock, then gives up (a Tab must not hang).
SQLITE_TIMEOUT = 0.5
#: Run ids offered for `--run-id`: the most recent ones.
RUN_LIMIT = 20


def _yaml(path: Path) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's: a Tab stays quick
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    loaded = yaml.load(text, Loader=loader)  # a safe loader
    return loaded if isinstance(loaded, dict) else {}


def _root_option(ctx: typer.Context | None, name: str) -> Any:
    root = ctx.find_root() if ctx is not None else None
    return root.params.get(name) if root is not None else None


def project_root(ctx: typer.Context | None) -> Path | None:
    """`--project`, `MLOPS_PROJECT`, else the nearest folder upwards with params.yaml.

    As `mlops.project.find_root` searches (that module loads the config models: ~0.4 s)."""
    given = _root_option(ctx, "project") or os.environ.get("MLOPS_PROJECT")
    if given:
        root = Path(given).expanduser().absolute()
        return root if (root / "params.yaml").is_file() else None
    here = Path.cwd().absolute()
    return next((f for f in (here, *here.parents) if (f / "params.yaml").is_file()), None)


def _params_file(ctx: typer.Context | None, root: Path) -> Path:
    given = _root_option(ctx, "params")
    return Path(given).expanduser().absolute() if given else root / "params.yaml"


def _settings(ctx: typer.Context | None, root: Path) -> dict[str, Any]:
    """The environment config as YAML (`--config`, `MLOPS_CONFIG`, or configs/local.yaml)."""
    given = _root_option(ctx, "config")
    if given:
        path = Path(given).expanduser().absolute()
    else:
        env = os.environ.get("MLOPS_CONFIG")
        path = root / (env or "configs/local.yaml")
    return _yaml(path)


def _section(tree: dict[str, Any], name: str) -> dict[str, Any]:
    value = tree.get(name)
    return value if isinstance(value, dict) else {}


def sqlite_path(uri: str, root: Path) -> Path | None:
    """The database file of a `sqlite:///` tracking URI (relative: to the project root), else
    None: `mlops.defaults.parse_tracking_uri` reads it (the parser `mlops.tracking` uses)."""
    from mlops import defaults  # stdlib only; imported on a Tab, not for `mlops --help`

    location = defaults.parse_tracking_uri(uri, root)
    return location.path if location.is_sqlite else None


def _store(ctx: typer.Context | None) -> tuple[Path, dict[str, Any]] | None:
    """The SQLite database file and the config tree, or None (no project, not SQLite)."""
    from mlops import defaults

    root = project_root(ctx)
    if root is None:
        return None
    settings = _settings(ctx, root)
    uri = str(_section(settings, "tracking").get("uri") or defaults.TRACKING_URI)
    path = sqlite_path(uri, root)
    if path is None or not path.is_file():
        return None
    return path, settings


#: MLflow's workspace when workspaces are off (registry/lookup.py's DEFAULT_WORKSPACE).
DEFAULT_WORKSPACE = "default"
#: Stands in `_query`'s arguments for the workspace (dropped when the schema has none).
WORKSPACE = object()


def _query(
    database: Path, sql: str, args: tuple[Any, ...], table: str = "", column: str = "workspace"
) -> list[tuple[Any, ...]]:
    """Rows of `sql`. `{workspace}` in it becomes `AND <column> = ?` (and `WORKSPACE` in `args`
    the workspace) when `table` has a workspace column (MLflow 3.10+ schemas), else nothing: as
    registry/lookup.py filters, rows of other MLflow workspaces (MLFLOW_WORKSPACE, else
    "default") are not offered. Repeated here: importing lookup loads the registry and
    tracking packages (pydantic), which a Tab must not."""
    import sqlite3

    uri = f"{database.as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=SQLITE_TIMEOUT)) as conn:
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")} if table else ()
        if "workspace" in columns:
            clause = f" AND {column} = ?"
            workspace = os.environ.get("MLFLOW_WORKSPACE") or DEFAULT_WORKSPACE
            args = tuple(workspace if arg is WORKSPACE else arg for arg in args)
        else:
            clause = ""
            args = tuple(arg for arg in args if arg is not WORKSPACE)
        return conn.execute(sql.format(workspace=clause), args).fetchall()


def _model_name(settings: dict[str, Any]) -> str:
    from mlops import defaults

    return str(_section(settings, "registry").get("model_name") or defaults.MODEL_NAME)


def registered(ctx: typer.Context | None) -> tuple[str, list[tuple[str, str]], list[str]]:
    """(model name, [(alias, version)], [versions, newest first]) from the SQLite store."""
    found = _store(ctx)
    if found is None:
        return "", [], []
    database, settings = found
    name = _model_name(settings)
    aliases = _query(
        database,
        "SELECT alias, version FROM registered_model_aliases WHERE name = ?{workspace} "
        "ORDER BY alias",
        (name, WORKSPACE),
        "registered_model_aliases",
    )
    versions = _query(
        database,
        "SELECT version FROM model_versions WHERE name = ?{workspace} "
        "AND current_stage != 'Deleted_Internal' ORDER BY version DESC",
        (name, WORKSPACE),
        "model_versions",
    )
    return name, [(str(a), str(v)) for a, v in aliases], [str(v) for (v,) in versions]


def model_refs(ctx: typer.Context, incomplete: str) -> Items:
    """`VERSION|@ALIAS`: the registered model's aliases (@champion, ...) and versions."""
    try:
        _, aliases, versions = registered(ctx)
    except Exception:  # a Tab completes nothing rather than fail
        return []
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases:
        by_version.setdefault(version, []).append(f"@{alias}")
    items = [(f"@{alias}", f"version {version}") for alias, version in aliases]
    items += [(v, ", ".join(by_version.get(v, [])) or "version") for v in versions]
    return [item for item in items if item[0].startswith(incomplete)]


def model_uris(ctx: typer.Context, incomplete: str) -> Items:
    """`--model URI`: models:/<name>@<alias> and models:/<name>/<version> of the registry."""
    try:
        name, aliases, versions = registered(ctx)
    except Exception:
        return []
    items = [(f"models:/{name}@{alias}", f"version {version}") for alias, version in aliases]
    items += [(f"models:/{name}/{version}", "version") for version in versions]
    return [item for item in items if item[0].startswith(incomplete)]


def run_ids(ctx: typer.Context, incomplete: str) -> Items:
    """`--run-id`: the experiment's most recent active runs, with their names."""
    from mlops import defaults

    try:
        found = _store(ctx)
        if found is None:
            return []
        database, settings = found
        experiment = str(_section(settings, "tracking").get("experiment") or defaults.EXPERIMENT)
        rows = _query(
            database,
            "SELECT r.run_uuid, r.name, r.status FROM runs r JOIN experiments e "
            "ON r.experiment_id = e.experiment_id WHERE e.name = ?{workspace} "
            "AND r.lifecycle_stage = 'active' AND r.run_uuid LIKE ? "
            "ORDER BY r.start_time DESC LIMIT ?",
            (experiment, WORKSPACE, f"{incomplete}%", RUN_LIMIT),
            "experiments",
            "e.workspace",
        )
    except Exception:
        return []
    return [(str(run), f"{name or ''} {status or ''}".strip()) for run, name, status in rows]


def estimator_names(ctx: typer.Context | None) -> list[str]:
    """The estimators of the project's task (every task's outside a project)."""
    from mlops import catalog

    task = None
    with contextlib.suppress(Exception):
        root = project_root(ctx)
        if root is not None:
            task = _section(_yaml(_params_file(ctx, root)), "data").get("task")
    tables = (
        [catalog.ESTIMATORS[task]] if task in catalog.ESTIMATORS else catalog.ESTIMATORS.values()
    )
    return sorted({name for table in tables for name in table})


#: Keys of params.yaml offered after `--set` at most (YAML aliases can nest a tree wide and deep).
MAX_KEYS = 500


def _flat_keys(tree: dict[str, Any], prefix: str = "", keys: list[str] | None = None) -> list[str]:
    keys = [] if keys is None else keys
    for key, value in tree.items():
        if len(keys) >= MAX_KEYS or prefix.count(".") > 8:
            break
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            _flat_keys(value, f"{path}.", keys)
        else:
            keys.append(path)
    return keys


def overrides(ctx: typer.Context, incomplete: str) -> Items:
    """`--set KEY.PATH=VALUE`: the keys of params.yaml, and estimator names after
    `model.estimator=` (zsh and fish; bash splits the word at `=`)."""
    try:
        key, sep, _ = incomplete.partition("=")
        if sep:
            if key != "model.estimator":
                return []
            return [(f"{key}={name}", "estimator") for name in estimator_names(ctx)]
        root = project_root(ctx)
        keys = _flat_keys(_yaml(_params_file(ctx, root))) if root is not None else []
        if "model.estimator" not in keys:
            keys.append("model.estimator")
    except Exception:
        return []
    return [(f"{k}=", "param") for k in sorted(keys) if k.startswith(incomplete)]


#: Characters bash's default COMP_WORDBREAKS splits a word at, that completed values contain.
_BREAKS = ("=", ":")


def _glue(args: list[str], incomplete: str) -> tuple[list[str], str, int]:
    """(args, the word to complete, how much of it bash does not replace): words bash split at
    `=` and `:` glued back together; `cut` is 0 when nothing was split."""
    words = [*args, incomplete]
    start = len(words) - 1
    while start > 0 and (words[start] in _BREAKS or words[start - 1] in _BREAKS):
        start -= 1
    if start == len(words) - 1:
        return args, incomplete, 0
    glued = "".join(words[start:])
    # Readline replaces the text after the last break: `=` itself, when it is the word, too.
    cut = len(glued) - (0 if incomplete in _BREAKS else len(incomplete))
    return words[:start], glued, cut


def use_bash_word_breaks() -> bool:
    """Complete bash with Typer's completion, with words bash split at `=` and `:` glued back
    together (Typer registers its own class when the app is built; this one replaces it).

    Bash hands `--set model.estimator=ra` over as `model.estimator`, `=`, `ra` (and
    `models:/m@c` as `models`, `:`, `/m@c`); the value is completed whole, and bash is given
    back only the part after the break, since that is the word it replaces.

    Typer offers no public hook for this: the classes are Typer's private ones (tested with
    the typer versions pyproject.toml allows). Should a later Typer move them, bash completes
    as Typer does (split words are not glued) and False is returned; nothing fails.
    """
    try:
        from typer._click.shell_completion import add_completion_class
        from typer._completion_classes import BashComplete as TyperBashComplete
    except ImportError:
        return False

    class BashComplete(TyperBashComplete):
        cut = 0

        def get_completion_args(self) -> tuple[list[str], str]:
            args, incomplete = super().get_completion_args()
            args, incomplete, self.cut = _glue(args, incomplete)
            return args, incomplete

        def format_completion(self, item: CompletionItem) -> str:
            return str(item.value)[self.cut :]

    add_completion_class(BashComplete, "bash")
    return True
