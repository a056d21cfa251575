"""MLflow Model Registry adapter: versions, aliases, and safe loading by version or alias.

With `tracking`, the only package that imports mlflow. Loading by alias or version goes
through `lookup` (no MLflow import) where the store allows it: see `load_model`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops import tracking
from mlops.config import Config
from mlops.errors import ModelLoadError, RegistryError
from mlops.registry import fetch, lookup
from mlops.registry.local import (
    GIT_COMMIT_TAG,
    MODEL_URI_PREFIX,
    UNSAFE_ENV,
    LoadedModel,
    ModelRef,
    ModelVersionInfo,
    check_ready,
    load_model_dir,
    loaded,
    local_directory,
    logged_model_id,
    parse_model_uri,
)

__all__ = [
    "GIT_COMMIT_TAG",
    "MODEL_URI_PREFIX",
    "UNSAFE_ENV",
    "LoadedModel",
    "ModelRef",
    "ModelVersionInfo",
    "check_ready",
    "client",
    "default_model_uri",
    "delete_alias",
    "download_model",
    "find_alias",
    "get_alias",
    "get_version",
    "list_versions",
    "load_model",
    "load_model_dir",
    "load_unsafe",
    "load_version",
    "local_directory",
    "parse_model_uri",
    "register",
    "resolve",
    "resolve_ref",
    "set_alias",
    "set_version_tags",
]

log = logging.getLogger(__name__)


def client(config: Config) -> Any:
    """An MlflowClient on the configured store (tracking and registry share one URI)."""
    import mlflow

    tracking.connect(config.settings.tracking)
    return mlflow.MlflowClient()


def _info(version: Any) -> ModelVersionInfo:
    return ModelVersionInfo(
        name=str(version.name),
        version=str(version.version),
        aliases=tuple(getattr(version, "aliases", []) or []),
        run_id=version.run_id,
        source=str(version.source),
        created_ms=int(version.creation_timestamp or 0),
        status=str(version.status),
        tags=dict(version.tags or {}),
    )


def _is_not_found(exc: Exception) -> bool:
    code = getattr(exc, "error_code", "")
    return code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or "not found" in str(exc).lower()


def get_alias(config: Config, alias: str) -> ModelVersionInfo | None:
    """The version an alias points at, or None when the model or alias does not exist."""
    from mlflow.exceptions import MlflowException

    name = config.settings.registry.model_name
    try:
        return _info(client(config).get_model_version_by_alias(name, alias))
    except MlflowException as exc:
        if _is_not_found(exc):
            return None
        raise RegistryError(
            f"registry: alias {alias!r} of {name!r}: {tracking.first_line(exc)}"
        ) from exc


def get_version(config: Config, version: str) -> ModelVersionInfo:
    from mlflow.exceptions import MlflowException

    name = config.settings.registry.model_name
    try:
        return _info(client(config).get_model_version(name, str(version)))
    except MlflowException as exc:
        if _is_not_found(exc):
            raise RegistryError(f"registry: model {name!r} has no version {version}") from exc
        raise RegistryError(
            f"registry: {name!r} version {version}: {tracking.first_line(exc)}"
        ) from exc


def list_versions(config: Config) -> list[ModelVersionInfo]:
    """Every version of the configured model, newest first."""
    from mlflow.exceptions import MlflowException

    name = config.settings.registry.model_name
    mlflow_client = client(config)
    try:
        found = mlflow_client.search_model_versions(f"name = '{name}'")
        aliases: dict[str, list[str]] = {}
        if found:
            for alias, number in mlflow_client.get_registered_model(name).aliases.items():
                aliases.setdefault(str(number), []).append(alias)
    except MlflowException as exc:
        raise RegistryError(f"registry: cannot list {name!r}: {tracking.first_line(exc)}") from exc
    versions = [
        dataclasses.replace(info, aliases=tuple(sorted(aliases.get(info.version, []))))
        for info in map(_info, found)
    ]
    return sorted(versions, key=lambda v: int(v.version), reverse=True)


def resolve(config: Config, ref: str) -> ModelVersionInfo:
    """`3`, `v3` or `@alias` -> the version it names (RegistryError when missing)."""
    text = ref.strip()
    if text.startswith("@"):
        found = get_alias(config, text[1:])
        if found is None:
            name = config.settings.registry.model_name
            raise RegistryError(f"registry: model {name!r} has no alias {text[1:]!r}")
        return found
    number = text.removeprefix("v")
    if not number.isdigit():
        raise RegistryError(f"registry: {ref!r} is not a version number or @alias")
    return get_version(config, number)


def register(
    config: Config, model_uri: str, run_id: str, tags: Mapping[str, str]
) -> ModelVersionInfo:
    """Register `model_uri` as a new version of the configured model, with tags."""
    from mlflow.exceptions import MlflowException

    mlflow_client = client(config)
    name = config.settings.registry.model_name
    try:
        try:
            mlflow_client.create_registered_model(name)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise
        # A logged model is named by id too: a tracking server checks that the source
        # belongs to that model (a SQLite store does not).
        version = mlflow_client.create_model_version(
            name,
            model_uri,
            run_id=run_id,
            tags={k: str(v) for k, v in tags.items()},
            model_id=logged_model_id(model_uri),
        )
    except MlflowException as exc:
        raise RegistryError(
            f"registry: cannot register {model_uri}: {tracking.first_line(exc)}"
        ) from exc
    return _info(version)


def set_alias(config: Config, alias: str, version: str) -> None:
    from mlflow.exceptions import MlflowException

    name = config.settings.registry.model_name
    try:
        client(config).set_registered_model_alias(name, alias, str(version))
    except MlflowException as exc:
        raise RegistryError(
            f"registry: cannot set {alias!r} -> {version}: {tracking.first_line(exc)}"
        ) from exc


def delete_alias(config: Config, alias: str) -> None:
    from mlflow.exceptions import MlflowException

    name = config.settings.registry.model_name
    try:
        client(config).delete_registered_model_alias(name, alias)
    except MlflowException as exc:
        if not _is_not_found(exc):
            raise RegistryError(
                f"registry: cannot delete alias {alias!r}: {tracking.first_line(exc)}"
            ) from exc


def set_version_tags(config: Config, version: str, tags: Mapping[str, str]) -> None:
    mlflow_client = client(config)
    name = config.settings.registry.model_name
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(name, str(version), key, str(value))


# --------------------------------------------------------------------------- loading


def default_model_uri(config: Config) -> str:
    registry = config.settings.registry
    return f"{MODEL_URI_PREFIX}{registry.model_name}@{registry.champion_alias}"


def download_model(uri: str, destination: Path | None = None) -> Path:
    """Fetch a model directory (MLmodel + model.skops) to local disk."""
    import mlflow
    from mlflow.exceptions import MlflowException

    target = destination or Path(tempfile.mkdtemp(prefix="mlops-model-"))
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(target))
    except MlflowException as exc:
        raise RegistryError(f"model {uri}: {tracking.first_line(exc)}") from exc
    except OSError as exc:
        raise ModelLoadError(f"model {uri}: artifacts missing or unreadable ({exc})") from exc
    return Path(local)


def load_unsafe(path: Path, fmt: str) -> Any:
    """Load a pickle/cloudpickle model: only on the user's explicit opt-in."""
    import mlflow.sklearn

    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"  # the user opted in
    return mlflow.sklearn._load_model_from_local_file(str(path), serialization_format=fmt)


def _scoped(config: Config, name: str) -> Config:
    registry = config.settings.registry.model_copy(update={"model_name": name})
    settings = config.settings.model_copy(update={"registry": registry})
    return config.model_copy(update={"settings": settings})


def find_alias(config: Config, name: str, alias: str) -> ModelVersionInfo | None:
    """The version `name@alias` points at (None when missing), read the cheapest way."""
    try:
        found = lookup.open_lookup(config.settings.tracking.uri).alias(name, alias)
    except lookup.Unavailable as exc:
        log.debug("registry lookup through MLflow: %s", exc)
        found = get_alias(_scoped(config, name), alias)
    return check_ready(found) if found is not None else None


def resolve_ref(config: Config, ref: ModelRef) -> ModelVersionInfo:
    """The version a `models:/` reference names (RegistryError when it does not exist)."""
    if ref.alias is not None:
        found = find_alias(config, ref.name, ref.alias)
        if found is None:
            raise RegistryError(f"registry: model {ref.name!r} has no alias {ref.alias!r}")
        return found
    try:
        return lookup.resolve(lookup.open_lookup(config.settings.tracking.uri), ref)
    except lookup.Unavailable as exc:
        log.debug("registry lookup through MLflow: %s", exc)
    return check_ready(get_version(_scoped(config, ref.name), str(ref.version)))


def load_version(
    config: Config, info: ModelVersionInfo, *, alias: str | None = None,
    uri: str | None = None, allow_unsafe: bool = False,
) -> LoadedModel:  # fmt: skip
    """Load a registered version from where its files are on disk, or from the model cache.

    Files in a local artifact store are read in place; anything else is fetched once into
    `paths.model_cache` (through a child process when MLflow is not imported here).
    """
    directory = local_directory(info)
    if directory is None:
        try:
            identity = lookup.open_lookup(config.settings.tracking.uri).identity
        except lookup.Unavailable:
            identity = tracking.redact(config.settings.tracking.uri)
        directory = fetch.ensure(config, identity, info)
    model, inputs = load_model_dir(directory, allow_unsafe=allow_unsafe)
    return loaded(model, inputs, uri or info.uri, directory, info, alias)


def load_model(
    config: Config, uri: str | None = None, *, allow_unsafe: bool = False
) -> LoadedModel:
    """Resolve `uri` (default: the champion) and load it safely (skops allowlist, no pickle).

    A path is loaded as a model directory; any other URI MLflow understands (`runs:/…`)
    is downloaded to a temporary directory, loaded, and the download removed.
    """
    model_uri = uri or default_model_uri(config)
    ref = parse_model_uri(model_uri)
    if ref is not None:
        info = resolve_ref(config, ref)
        return load_version(config, info, alias=ref.alias, uri=model_uri, allow_unsafe=allow_unsafe)
    path_given = Path(model_uri)
    if path_given.is_dir():
        model, inputs = load_model_dir(path_given, allow_unsafe=allow_unsafe)
        return loaded(model, inputs, model_uri, path_given, None, None)
    tracking.connect(config.settings.tracking)
    scratch = Path(tempfile.mkdtemp(prefix="mlops-model-"))
    try:
        local = download_model(model_uri, scratch)
        model, inputs = load_model_dir(local, allow_unsafe=allow_unsafe)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # the model now lives in memory
    return loaded(model, inputs, model_uri, local, None, None)
