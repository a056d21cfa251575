"""MLflow Model Registry adapter: versions, aliases, and safe loading by version or alias.

With `tracking.py`, the only module that imports mlflow.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops import artifacts, tracking
from mlops.config import Config
from mlops.errors import ModelLoadError, RegistryError

MODEL_URI_PREFIX = "models:/"
#: Set by `mlops --allow-unsafe-model`: the user accepts loading untrusted model formats.
UNSAFE_ENV = "MLOPS_ALLOW_UNSAFE_MODEL"


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version, as the registry reports it."""

    name: str
    version: str
    aliases: tuple[str, ...]
    run_id: str | None
    source: str
    created_ms: int
    status: str
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"{MODEL_URI_PREFIX}{self.name}/{self.version}"


@dataclass(frozen=True)
class LoadedModel:
    """A model loaded through our trusted-type allowlist, with where it came from.

    `path` is where the files were read; a registry download there is removed after loading.
    """

    model: Any
    uri: str
    path: Path
    name: str | None
    version: str | None
    alias: str | None
    run_id: str | None
    git_commit: str | None
    inputs: list[dict[str, Any]]


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
        version = mlflow_client.create_model_version(
            name, model_uri, run_id=run_id, tags={k: str(v) for k, v in tags.items()}
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


def load_model_dir(path: Path, *, allow_unsafe: bool = False) -> tuple[Any, list[dict[str, Any]]]:
    """Load an MLflow sklearn model directory: skops through our allowlist, never pickle."""
    from mlflow.models import Model

    mlmodel = path / "MLmodel"
    if not mlmodel.exists():
        raise ModelLoadError(f"{path}: no MLmodel file (not an MLflow model directory)")
    try:
        meta = Model.load(str(path))
    except Exception as exc:
        raise ModelLoadError(f"{mlmodel}: cannot read ({tracking.first_line(exc)})") from exc
    flavor = meta.flavors.get("sklearn")
    if flavor is None:
        raise ModelLoadError(
            f"{mlmodel}: not a scikit-learn model (flavors: {', '.join(meta.flavors)})"
        )
    allow_unsafe = allow_unsafe or os.environ.get(UNSAFE_ENV) == "1"
    fmt = flavor.get("serialization_format", "pickle")
    data_file = path / str(flavor.get("pickled_model", "model.skops"))
    inputs = meta.signature.inputs.to_dict() if meta.signature is not None else []
    if fmt != "skops":
        if not allow_unsafe:
            raise ModelLoadError(
                f"{data_file}: model is serialised with {fmt}, which can run arbitrary code when "
                "loaded; refusing (pass --allow-unsafe-model to accept the risk)"
            )
        return _load_unsafe(data_file, fmt), inputs
    return artifacts.load_model(data_file, allow_unsafe=allow_unsafe), inputs


def _load_unsafe(path: Path, fmt: str) -> Any:
    import mlflow.sklearn

    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"  # the user opted in
    return mlflow.sklearn._load_model_from_local_file(str(path), serialization_format=fmt)


def load_model(
    config: Config, uri: str | None = None, *, allow_unsafe: bool = False
) -> LoadedModel:
    """Resolve `uri` (default: the champion), download it, and load it safely."""
    model_uri = uri or default_model_uri(config)
    info: ModelVersionInfo | None = None
    alias: str | None = None
    name = config.settings.registry.model_name
    if model_uri.startswith(MODEL_URI_PREFIX):
        ref = model_uri.removeprefix(MODEL_URI_PREFIX)
        if "@" in ref:
            name, alias = ref.split("@", 1)
            found = get_alias(
                config.model_copy(update={"settings": _with_name(config, name)}), alias
            )
            if found is None:
                raise RegistryError(f"registry: model {name!r} has no alias {alias!r}")
            info = found
        elif "/" in ref and ref.split("/", 1)[1].isdigit():
            name, number = ref.split("/", 1)
            info = get_version(
                config.model_copy(update={"settings": _with_name(config, name)}), number
            )
    path_given = Path(model_uri)
    if path_given.is_dir():
        model, inputs = load_model_dir(path_given, allow_unsafe=allow_unsafe)
        return LoadedModel(model, model_uri, path_given, None, None, None, None, None, inputs)
    tracking.connect(config.settings.tracking)
    scratch = Path(tempfile.mkdtemp(prefix="mlops-model-"))
    try:
        local = download_model(info.uri if info is not None else model_uri, scratch)
        model, inputs = load_model_dir(local, allow_unsafe=allow_unsafe)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # the model now lives in memory
    return LoadedModel(
        model=model,
        uri=model_uri,
        path=local,
        name=info.name if info else None,
        version=info.version if info else None,
        alias=alias,
        run_id=info.run_id if info else None,
        git_commit=info.tags.get("mlops.git_commit") if info else None,
        inputs=inputs,
    )


def _with_name(config: Config, name: str) -> Any:
    registry = config.settings.registry.model_copy(update={"model_name": name})
    return config.settings.model_copy(update={"registry": registry})
