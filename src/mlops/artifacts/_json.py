"""JSON files (reports, records) and file hashes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Protocol, TypeVar

from mlops.artifacts._atomic import write_text
from mlops.errors import DataError, redact_secrets


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...


Hash = TypeVar("Hash", bound=_Digest)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_json(payload: Any) -> str:
    return json.dumps(payload, indent=2, sort_keys=False, default=_json_default) + "\n"


def write_json(target: Path, payload: Any) -> Path:
    """Write a JSON report or record; credentials in URLs and secret values are redacted (the
    boundary every report passes: an exception text quoted in a report cannot leak them)."""
    return write_text(target, redact_secrets(to_json(payload)))


def write_report(target: Path, text: str) -> Path:
    """Write a human-readable report (Markdown, HTML) with secrets redacted, like write_json."""
    return write_text(target, redact_secrets(text))


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from exc


# --------------------------------------------------------------------------- hashing


def file_md5(path: Path) -> str:
    """MD5 of a file's bytes: the same hash DVC records in `dvc.lock`."""
    return hash_file(path, hashlib.md5(usedforsecurity=False)).hexdigest()


def hash_file(path: Path, digest: Hash) -> Hash:
    """`digest` updated with the bytes of `path` (read in blocks; OSError propagates)."""
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest
