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
from mlops.errors import ModelLoadError, RegistryError
from mlops.registry import fetch, lookup
from mlops.registry.local import (
    MODEL_URI_PREFIX,
    LoadedModel,
    ModelRef,
    ModelVersionInfo,
    check_ready,
    directory_digest,
    load_model_dir,
    load_model_files,
    loaded,
    local_directory,
    parse_model_uri,
    read_model_files,
)
from mlops.tracking import Store

__all__ = [
    "MODEL_URI_PREFIX",
    "LoadedModel",
    "ModelRef",
    "ModelVersionInfo",
    "check_ready",
    "default_model_uri",
    "delete_alias",
    "directory_digest",
    "download_model",
    "find_alias",
    "get_alias",
    "get_version",
    "list_versions",
    "load_model",
    "load_model_dir",
    "load_model_files",
    "load_unsafe",
    "load_version",
    "local_directory",
    "model_directory",
    "model_files",
    "parse_model_uri",
    "read_model_files",
    "register",
    "resolve",
    "resolve_ref",
    "set_alias",
    "set_description",
    "set_version_tags",
]

log = logging.getLogger(__name__)


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


def get_alias(store: Store, alias: str, name: str | None = None) -> ModelVersionInfo | None:
    """The version an alias points at, or None when the model or alias does not exist."""
    from mlflow.exceptions import MlflowException

    name = name or store.model_name
    try:
        return _info(store.client.get_model_version_by_alias(name, alias))
    except MlflowException as exc:
        if _is_not_found(exc):
            return None
        raise RegistryError(
            f"registry: alias {alias!r} of {name!r}: {tracking.first_line(exc)}"
        ) from exc


def get_version(store: Store, version: str, name: str | None = None) -> ModelVersionInfo:
    from mlflow.exceptions import MlflowException

    name = name or store.model_name
    try:
        return _info(store.client.get_model_version(name, str(version)))
    except MlflowException as exc:
        if _is_not_found(exc):
            raise RegistryError(f"registry: model {name!r} has no version {version}") from exc
        raise RegistryError(
            f"registry: {name!r} version {version}: {tracking.first_line(exc)}"
        ) from exc


def list_versions(store: Store) -> list[ModelVersionInfo]:
    """Every version of the configured model, newest first."""
    from mlflow.exceptions import MlflowException

    name = store.model_name
    mlflow_client = store.client
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


def resolve(store: Store, ref: str) -> ModelVersionInfo:
    """`3`, `v3` or `@alias` -> the version it names (RegistryError when missing)."""
    text = ref.strip()
    if text.startswith("@"):
        found = get_alias(store, text[1:])
        if found is None:
            name = store.model_name
            raise lookup.no_alias(name, text[1:])
        return found
    number = text.removeprefix("v")
    if not number.isdigit():
        raise RegistryError(f"registry: {ref!r} is not a version number or @alias")
    return get_version(store, number)


def register(
    store: Store, model_uri: str, tags: Mapping[str, str], description: str = ""
) -> ModelVersionInfo:
    """Register `model_uri` as a new version of the configured model, with tags.

    Through MLflow's own registration path (`mlflow.register_model`): for a logged model
    (`models:/m-...`) it also links the logged model to the version, so MLflow's UI shows
    the logged model as registered.
    """
    import contextlib
    import io

    import mlflow
    from mlflow.exceptions import MlflowException

    store.activate()  # register_model is fluent: it uses MLflow's current store
    name = store.model_name
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # "Successfully registered ..." chatter
            version = mlflow.register_model(
                model_uri, name, tags={k: str(v) for k, v in tags.items()}
            )
        if description:
            version = store.client.update_model_version(
                name, version.version, description=description
            )
    except MlflowException as exc:
        raise RegistryError(
            f"registry: cannot register {model_uri}: {tracking.first_line(exc)}"
        ) from exc
    return _info(version)


def set_alias(store: Store, alias: str, version: str) -> None:
    from mlflow.exceptions import MlflowException

    name = store.model_name
    try:
        store.client.set_registered_model_alias(name, alias, str(version))
    except MlflowException as exc:
        raise RegistryError(
            f"registry: cannot set {alias!r} -> {version}: {tracking.first_line(exc)}"
        ) from exc


def delete_alias(store: Store, alias: str) -> None:
    from mlflow.exceptions import MlflowException

    name = store.model_name
    try:
        store.client.delete_registered_model_alias(name, alias)
    except MlflowException as exc:
        if not _is_not_found(exc):
            raise RegistryError(
                f"registry: cannot delete alias {alias!r}: {tracking.first_line(exc)}"
            ) from exc


def set_version_tags(store: Store, version: str, tags: Mapping[str, str]) -> None:
    for key, value in tags.items():
        store.client.set_model_version_tag(store.model_name, str(version), key, str(value))


def set_description(store: Store, version: str, description: str) -> None:
    """The version's description (Markdown, shown in MLflow's UI): its decision record."""
    from mlflow.exceptions import MlflowException

    try:
        store.client.update_model_version(store.model_name, str(version), description=description)
    except MlflowException as exc:
        raise RegistryError(
            f"registry: cannot describe v{version}: {tracking.first_line(exc)}"
        ) from exc


# --------------------------------------------------------------------------- loading


def default_model_uri(store: Store) -> str:
    names = store.names
    return f"{MODEL_URI_PREFIX}{names.model_name}@{names.champion_alias}"


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


def find_alias(store: Store, name: str, alias: str) -> ModelVersionInfo | None:
    """The version `name@alias` points at (None when missing), read the cheapest way."""
    try:
        found = lookup.open_lookup(store.location).alias(name, alias)
    except lookup.Unavailable as exc:
        log.debug("registry lookup through MLflow: %s", exc)
        found = get_alias(store, alias, name)
    return check_ready(found) if found is not None else None


def resolve_ref(store: Store, ref: ModelRef) -> ModelVersionInfo:
    """The version a `models:/` reference names (RegistryError when it does not exist)."""
    if ref.alias is not None:
        found = find_alias(store, ref.name, ref.alias)
        if found is None:
            raise lookup.no_alias(ref.name, ref.alias)
        return found
    try:
        return lookup.resolve(lookup.open_lookup(store.location), ref)
    except lookup.Unavailable as exc:
        log.debug("registry lookup through MLflow: %s", exc)
    return check_ready(get_version(store, str(ref.version), ref.name))


def load_version(
    store: Store, info: ModelVersionInfo, *, alias: str | None = None,
    uri: str | None = None, allow_unsafe: bool = False,
) -> LoadedModel:  # fmt: skip
    """Load a registered version from where its files are on disk, or from the model cache.

    Files in a local artifact store are read in place; anything else is fetched once into
    `paths.model_cache` (through a child process when MLflow is not imported here).
    """
    directory = model_directory(store, info)
    model, inputs = load_model_dir(directory, allow_unsafe=allow_unsafe)
    return loaded(model, inputs, uri or info.uri, directory, info, alias)


def model_directory(store: Store, info: ModelVersionInfo) -> Path:
    """Where a registered version's files are on this machine (fetched into the cache if need be)."""
    directory = local_directory(info)
    return directory if directory is not None else fetch.ensure(store, info)


def load_model(store: Store, uri: str | None = None, *, allow_unsafe: bool = False) -> LoadedModel:
    """Resolve `uri` (default: the champion) and load it safely (skops allowlist, no pickle).

    A path is loaded as a model directory; any other URI MLflow understands (`runs:/…`)
    is downloaded to a temporary directory, loaded, and the download removed.
    """
    model_uri = uri or default_model_uri(store)
    ref = parse_model_uri(model_uri)
    if ref is not None:
        info = resolve_ref(store, ref)
        return load_version(store, info, alias=ref.alias, uri=model_uri, allow_unsafe=allow_unsafe)
    path_given = Path(model_uri)
    if path_given.is_dir():
        model, inputs = load_model_dir(path_given, allow_unsafe=allow_unsafe)
        return loaded(model, inputs, model_uri, path_given, None, None)
    store.activate()  # MLflow resolves runs:/ URIs against its current store
    scratch = Path(tempfile.mkdtemp(prefix="mlops-model-"))
    try:
        local = download_model(model_uri, scratch)
        model, inputs = load_model_dir(local, allow_unsafe=allow_unsafe)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # the model now lives in memory
    return loaded(model, inputs, model_uri, local, None, None)


def model_files(store: Store, model: LoadedModel) -> dict[str, bytes]:
    """The files of a loaded model (`read_model_files`), to load it again in another process.

    Read from where it was loaded; a download (`runs:/…`) that is gone is fetched again.
    """
    if (model.path / "MLmodel").is_file():
        return read_model_files(model.path)
    store.activate()
    scratch = Path(tempfile.mkdtemp(prefix="mlops-model-"))
    try:
        return read_model_files(download_model(model.uri, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
