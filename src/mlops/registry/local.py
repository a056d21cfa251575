"""Registry types and MLflow model directories read without importing MLflow.

An `MLmodel` file is YAML; its sklearn flavor names the skops file and its signature lists the
inputs. Reading those two things with PyYAML keeps MLflow (≈1 s and ≈40 MB of imports, plus a
SQLAlchemy store) out of processes that only score: `mlops serve` workers and `mlops predict`.
"""

from __future__ import annotations

import json
import numbers
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from mlops import artifacts
from mlops.errors import ModelLoadError, RegistryError, first_line
from mlops.registry import probe
from mlops.tracking import tags

MODEL_URI_PREFIX = "models:/"


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
    #: Where the version's files live (`file:///…` for a local artifact store), when known.
    storage_location: str | None = None

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


@dataclass(frozen=True)
class ModelRef:
    """A parsed `models:/name@alias` or `models:/name/<version>` URI."""

    name: str
    alias: str | None = None
    version: str | None = None


def parse_model_uri(uri: str) -> ModelRef | None:
    """The registry reference in `uri`, or None when it is not `models:/name@alias|/N`."""
    if not uri.startswith(MODEL_URI_PREFIX):
        return None
    ref = uri.removeprefix(MODEL_URI_PREFIX)
    if "@" in ref:
        name, alias = ref.split("@", 1)
        return ModelRef(name, alias=alias) if name and alias else None
    if "/" in ref:
        name, number = ref.split("/", 1)
        return ModelRef(name, version=number) if name and number.isdigit() else None
    return None


def logged_model_id(uri: str) -> str | None:
    """`models:/m-<id>` (a logged model, MLflow 3) -> its id; None for any other URI."""
    ref = uri.removeprefix(MODEL_URI_PREFIX)
    if ref == uri or not ref or "/" in ref or "@" in ref:
        return None
    return ref


def local_directory(info: ModelVersionInfo) -> Path | None:
    """The version's model directory when it sits on this machine's disk, else None."""
    location = info.storage_location or info.source
    if not location.startswith("file:"):
        return None
    path = Path(unquote(urlparse(location).path))
    return path if (path / "MLmodel").is_file() else None


def read_mlmodel(path: Path) -> dict[str, Any]:
    """The parsed `MLmodel` of a model directory (ModelLoadError when missing or broken)."""
    import yaml

    mlmodel = path / "MLmodel"
    if not mlmodel.is_file():
        raise ModelLoadError(f"{path}: no MLmodel file (not an MLflow model directory)")
    try:
        meta = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ModelLoadError(f"{mlmodel}: cannot read ({first_line(exc)})") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("flavors"), dict):
        raise ModelLoadError(f"{mlmodel}: not an MLmodel file (no flavors)")
    return meta


def signature_inputs(meta: Mapping[str, Any], where: Path) -> list[dict[str, Any]]:
    """The input columns of the model signature (`[]` without a signature)."""
    signature = meta.get("signature") or {}
    text = signature.get("inputs") if isinstance(signature, dict) else None
    if not text:
        return []
    try:
        inputs = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"{where}: signature inputs are not valid JSON") from exc
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise ModelLoadError(f"{where}: signature inputs are not a list of columns")
    return inputs


def load_model_dir(path: Path, *, allow_unsafe: bool = False) -> tuple[Any, list[dict[str, Any]]]:
    """Load an MLflow sklearn model directory: skops through our allowlist, never pickle."""
    meta = read_mlmodel(path)
    flavors: dict[str, Any] = meta["flavors"]
    flavor = flavors.get("sklearn")
    if not isinstance(flavor, dict):
        raise ModelLoadError(
            f"{path / 'MLmodel'}: not a scikit-learn model (flavors: {', '.join(flavors)})"
        )
    fmt = str(flavor.get("serialization_format", "pickle"))
    data_file = path / str(flavor.get("pickled_model", "model.skops"))
    if data_file.resolve().parent != path.resolve():
        raise ModelLoadError(f"{path / 'MLmodel'}: model file {data_file.name!r} is outside it")
    inputs = signature_inputs(meta, path / "MLmodel")
    if fmt != "skops":
        if not allow_unsafe:
            raise ModelLoadError(
                f"{data_file}: model is serialised with {fmt}, which can run arbitrary code when "
                "loaded; refusing (pass --allow-unsafe-model to accept the risk)"
            )
        from mlops.registry import load_unsafe  # imports MLflow: only on the user's opt-in

        probe.probe(path, data_file, fmt)  # the checks cannot see inside a pickle
        model = load_unsafe(data_file, fmt)
        artifacts.check_structure(model, str(data_file))
        check_signature(model, inputs, path / "MLmodel")
        return model, inputs
    probed = allow_unsafe and _beyond_allowlist(data_file)
    if probed:
        probe.probe(path, data_file, fmt)  # types the checks do not know
    model, complete = artifacts.load_model_checked(data_file, allow_unsafe=allow_unsafe)
    check_signature(model, inputs, path / "MLmodel")
    if not complete and not probed:  # nested past what the structure walk reaches
        probe.probe(path, data_file, fmt)
    return model, inputs


def check_signature(model: Any, inputs: list[dict[str, Any]], where: Path) -> None:
    """The estimator reads the columns its signature lists: `n_features_in_` and, when fitted on
    a frame, `feature_names_in_` against the signature's input columns (when both are known)."""
    names = [spec.get("name") for spec in inputs]
    if not names or not all(isinstance(name, str) for name in names):
        return  # no signature, or a tensor signature without column names
    width = getattr(model, "n_features_in_", None)
    if isinstance(width, bool) or not isinstance(width, numbers.Integral):
        return
    if int(width) != len(names):
        raise ModelLoadError(
            f"{where}: the model reads {int(width)} features but its signature lists "
            f"{len(names)} columns; refusing to load it"
        )
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is None:
        return
    missing = sorted(set(map(str, fitted)) - set(map(str, names)))
    if missing:
        shown = ", ".join(repr(name) for name in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ModelLoadError(
            f"{where}: the model reads column(s) {shown}{more} its signature does not list; "
            "refusing to load it"
        )


def _beyond_allowlist(data_file: Path) -> bool:
    """True when the skops file needs types beyond skops' defaults and our allowlist."""
    try:
        types = artifacts.untrusted_types(data_file.read_bytes())
    except Exception:  # not readable or not skops: artifacts.load_model says why
        return False
    return bool(set(types) - artifacts.TRUSTED_MODEL_TYPES)


def directory_digest(path: Path) -> str | None:
    """sha256 of a model directory's `MLmodel` and model file; None when either cannot be read
    (missing files are a transient state, not a verdict on the model)."""
    import hashlib

    try:
        meta = read_mlmodel(path)
        flavor = meta["flavors"].get("sklearn")
        name = str(flavor.get("pickled_model", "model.skops")) if isinstance(flavor, dict) else ""
        digest = hashlib.sha256((path / "MLmodel").read_bytes())
        if name and Path(name).name == name:
            artifacts.hash_file(path / name, digest)
    except (ModelLoadError, OSError):
        return None
    return digest.hexdigest()


def read_model_files(path: Path) -> dict[str, bytes]:
    """The files `load_model_dir` reads (`MLmodel` and the model file), to load it elsewhere."""
    meta = read_mlmodel(path)
    flavor = meta["flavors"].get("sklearn")
    if not isinstance(flavor, dict):
        raise ModelLoadError(f"{path / 'MLmodel'}: not a scikit-learn model")
    name = str(flavor.get("pickled_model", "model.skops"))
    data_file = path / name
    if data_file.resolve().parent != path.resolve():
        raise ModelLoadError(f"{path / 'MLmodel'}: model file {data_file.name!r} is outside it")
    try:
        return {"MLmodel": (path / "MLmodel").read_bytes(), name: data_file.read_bytes()}
    except OSError as exc:
        raise ModelLoadError(f"{data_file}: cannot read ({first_line(exc)})") from exc


def load_model_files(
    files: Mapping[str, bytes], *, allow_unsafe: bool = False
) -> tuple[Any, list[dict[str, Any]]]:
    """`load_model_dir` on files from `read_model_files` (another process's, e.g. a Dask worker's):
    the same allowlist, the same refusal of pickle without `allow_unsafe`."""
    with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp:
        directory = Path(tmp)
        for name, data in files.items():
            if Path(name).name != name or name in ("", ".", ".."):
                raise ModelLoadError(f"model file name {name!r} is not a plain file name")
            (directory / name).write_bytes(data)
        return load_model_dir(directory, allow_unsafe=allow_unsafe)


def loaded(
    model: Any, inputs: list[dict[str, Any]], uri: str, path: Path, info: ModelVersionInfo | None,
    alias: str | None,
) -> LoadedModel:  # fmt: skip
    return LoadedModel(
        model=model,
        uri=uri,
        path=path,
        name=info.name if info else None,
        version=info.version if info else None,
        alias=alias,
        run_id=info.run_id if info else None,
        git_commit=info.tags.get(tags.GIT_COMMIT) if info else None,
        inputs=inputs,
    )


def check_ready(info: ModelVersionInfo) -> ModelVersionInfo:
    if info.status not in ("READY", ""):
        raise RegistryError(
            f"registry: {info.name!r} version {info.version} is not ready ({info.status})"
        )
    return info
