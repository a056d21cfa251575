"""Model files: skops serialisation, loading only types on our allowlist (never pickle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops.artifacts._atomic import write_bytes
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
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    if not path.exists():
        raise ModelLoadError(f"{path}: model file not found")
    data = path.read_bytes()
    if allow_unsafe:
        return _load_trusting(path, data, _audit(path, data))
    try:
        return sio.loads(data, trusted=sorted(TRUSTED_MODEL_TYPES))
    except UntrustedTypesFoundException:
        check_trusted(_audit(path, data), str(path))  # names the types beyond the allowlist
        raise ModelLoadError(
            f"{path}: model contains types outside the trusted allowlist"
        ) from None
    except Exception as exc:
        _audit(path, data)  # "not a skops model file" when that is the reason
        raise ModelLoadError(f"{path}: cannot load model ({first_line(exc)})") from exc


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
