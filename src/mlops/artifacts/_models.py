"""Model files: skops serialisation, loading only types on our allowlist (never pickle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops.artifacts._atomic import write_bytes
from mlops.artifacts._structure import check_structure
from mlops.errors import ModelLoadError, first_line

#: Types a model artifact may contain beyond skops' own safe defaults. This list lives in our
#: code on purpose: the list stored inside an artifact can be widened by whoever wrote it.
TRUSTED_MODEL_TYPES: frozenset[str] = frozenset(
    {
        "numpy.dtype",
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
    }
)


#: A model archive may unpack to at most this many bytes (MLOPS_MAX_MODEL_BYTES overrides): a
#: "zip bomb" (a tiny archive with a huge member) is refused before anything is decompressed.
MAX_MODEL_BYTES = 4 * 1024**3
#: ...and hold at most this many members (a 300-tree forest holds about 2,000).
MAX_MODEL_MEMBERS = 200_000
MAX_BYTES_ENV = "MLOPS_MAX_MODEL_BYTES"


def check_archive(path: Path, data: bytes) -> None:
    """Bound a skops archive by its declared sizes (zipfile never inflates a member past its
    declared size, so the declaration is what loading can cost)."""
    import io
    import os
    import zipfile

    limit = MAX_MODEL_BYTES
    configured = os.environ.get(MAX_BYTES_ENV, "").strip()
    if configured:
        try:
            limit = int(configured)
        except ValueError:
            raise ModelLoadError(
                f"{MAX_BYTES_ENV}={configured!r}: expected a number of bytes"
            ) from None
    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ModelLoadError(f"{path}: not a skops model file ({first_line(exc)})") from exc
    if len(members) > MAX_MODEL_MEMBERS:
        raise ModelLoadError(
            f"{path}: model archive holds {len(members):,} members (limit {MAX_MODEL_MEMBERS:,})"
        )
    total = sum(member.file_size for member in members)
    if total > limit:
        raise ModelLoadError(
            f"{path}: model archive unpacks to {total:,} bytes from {len(data):,} (limit "
            f"{limit:,}; set {MAX_BYTES_ENV} to allow more)"
        )


def untrusted_types(model_bytes: bytes) -> list[str]:
    """Types in a skops payload that skops does not trust by default."""
    import skops.io as sio

    return list(sio.get_untrusted_types(data=model_bytes))


def check_trusted(types: list[str], where: str) -> None:
    beyond = sorted(set(types) - TRUSTED_MODEL_TYPES)
    if beyond:
        raise ModelLoadError(
            f"{where}: model contains types outside the trusted allowlist: {', '.join(beyond)} "
            "(pass --allow-unsafe-model to accept the risk)"
        )


def dump_model(model: Any) -> tuple[bytes, list[str]]:
    """Serialise a fitted estimator with skops; return the bytes and the extra types it needs."""
    import skops.io as sio

    data = sio.dumps(model)
    types = untrusted_types(data)
    check_trusted(types, "model to save")
    return data, types


def save_model(target: Path, model: Any) -> list[str]:
    """Write `model` as a skops file atomically; return the non-default types it uses."""
    data, types = dump_model(model)
    write_bytes(target, data)
    return types


def load_model(path: Path, *, allow_unsafe: bool = False) -> Any:
    """Load a skops model, trusting only types on our allowlist (never pickle).

    One pass: skops refuses anything beyond its defaults and our allowlist while loading;
    only a refusal (or `allow_unsafe`, the user's explicit opt-in to trust whatever types the
    file needs) pays for a separate audit of the file's types.
    """
    return load_model_checked(path, allow_unsafe=allow_unsafe)[0]


def load_model_checked(path: Path, *, allow_unsafe: bool = False) -> tuple[Any, bool]:
    """`load_model`, and whether its structure check was complete (see `check_structure`)."""
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    if not path.exists():
        raise ModelLoadError(f"{path}: model file not found")
    data = path.read_bytes()
    check_archive(path, data)
    if allow_unsafe:
        model = _load_trusting(path, data, _audit(path, data))
        return model, check_structure(model, str(path))
    try:
        model = sio.loads(data, trusted=sorted(TRUSTED_MODEL_TYPES))
    except UntrustedTypesFoundException:
        check_trusted(_audit(path, data), str(path))  # names the types beyond the allowlist
        raise ModelLoadError(
            f"{path}: model contains types outside the trusted allowlist"
        ) from None
    except Exception as exc:
        _audit(path, data)  # "not a skops model file" when that is the reason
        raise ModelLoadError(f"{path}: cannot load model ({first_line(exc)})") from exc
    return model, check_structure(model, str(path))


def _audit(path: Path, data: bytes) -> list[str]:
    try:
        return untrusted_types(data)
    except Exception as exc:
        raise ModelLoadError(f"{path}: not a skops model file ({first_line(exc)})") from exc


def _load_trusting(path: Path, data: bytes, types: list[str]) -> Any:
    import skops.io as sio

    try:
        return sio.loads(data, trusted=types)
    except Exception as exc:
        raise ModelLoadError(f"{path}: cannot load model ({first_line(exc)})") from exc
