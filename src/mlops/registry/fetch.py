"""A local cache of registry model versions, filled by MLflow in a short-lived child process.

A registered version is immutable, so its files can be kept once fetched:
`<paths.model_cache>/<store>/<model>-v<version>/` (hashed store and model names, so any name
is a safe path). An entry appears by an atomic rename of a complete download: a crash leaves
a `.tmp-<pid>` directory that the next fetch sweeps, never a half entry.

A process that has not imported MLflow (a serving worker) fetches through
`python -m mlops.registry.fetch`, which exits when done: MLflow's memory goes with it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.artifacts import pid_alive
from mlops.config import TrackingSettings
from mlops.errors import ExitCode, MlopsError, RegistryError, first_line
from mlops.registry.local import ModelVersionInfo

if TYPE_CHECKING:
    from mlops.tracking import Store

#: A fetch that takes longer than this (a huge model over a slow link) is reported as failed.
FETCH_TIMEOUT_SECONDS = 1800
TEMP_MARK = ".tmp-"
#: Versions of one model kept in the cache: the newest ones (an older one is fetched again if a
#: rollback needs it). Bounds the cache for a server that follows `champion` for months.
KEEP_VERSIONS = 5


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def entry_dir(store: Store, info: ModelVersionInfo) -> Path:
    """Where version `info` of `store` is (or will be) cached."""
    identity = store.location.identity
    return store.model_cache / _digest(identity) / f"{_digest(info.name)}-v{info.version}"


def cached(store: Store, info: ModelVersionInfo) -> Path | None:
    entry = entry_dir(store, info)
    return entry if (entry / "MLmodel").is_file() else None


def ensure(store: Store, info: ModelVersionInfo) -> Path:
    """The cached directory of `info`, fetching it first when missing."""
    found = cached(store, info)
    if found is not None:
        return found
    entry = entry_dir(store, info)
    entry.parent.mkdir(parents=True, exist_ok=True)
    _sweep(entry.parent)
    scratch = entry.with_name(f"{entry.name}{TEMP_MARK}{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        if "mlflow" in sys.modules:  # already paid for: download here
            download(store, info.uri, scratch)
        else:
            _download_in_child(store, info.uri, scratch)
        try:
            scratch.rename(entry)
        except OSError:  # another process installed it first: theirs is as good as ours
            if not (entry / "MLmodel").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    prune(entry, KEEP_VERSIONS)
    return entry


def prune(entry: Path, keep: int) -> list[Path]:
    """Remove all but the `keep` newest cached versions of `entry`'s model (never `entry`)."""
    model, _, _ = entry.name.rpartition("-v")
    versions = []
    for other in entry.parent.glob(f"{model}-v*"):
        number = other.name.rpartition("-v")[2]
        if number.isdigit() and other.is_dir():
            versions.append((int(number), other))
    versions.sort(reverse=True)
    removed = [path for _, path in versions[keep:] if path != entry]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def _sweep(directory: Path) -> None:
    """Remove downloads left by processes that died mid-fetch."""
    for stale in directory.glob(f"*{TEMP_MARK}*"):
        pid = stale.name.rsplit(TEMP_MARK, 1)[1]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def download(store: Store, uri: str, target: Path) -> Path:
    """Download the model directory of `uri` into `target` (which must not exist yet)."""
    from mlops import registry

    store.activate()  # MLflow resolves models:/ URIs against its current store
    target.mkdir(parents=True)
    local = registry.download_model(uri, target)
    if local != target:  # MLflow put the files in a subdirectory: flatten to `target`
        for item in local.iterdir():
            item.rename(target / item.name)
    if not (target / "MLmodel").is_file():
        raise RegistryError(f"model {uri}: downloaded files have no MLmodel")
    return target


def _download_in_child(store: Store, uri: str, target: Path) -> None:
    request = json.dumps(
        {"tracking": store.settings.model_dump(mode="json"), "root": str(store.root), "uri": uri}
    )
    try:
        done = subprocess.run(  # our own module, same interpreter
            [sys.executable, "-m", "mlops.registry.fetch", str(target)],
            input=request,
            capture_output=True,
            text=True,
            timeout=FETCH_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RegistryError(f"model {uri}: fetch timed out after {exc.timeout:.0f}s") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"fetch exited with code {done.returncode}"
        raise RegistryError(reason.removeprefix("error: "))


def main(argv: list[str]) -> int:
    """`python -m mlops.registry.fetch TARGET` with {"tracking": …, "uri": …} on stdin."""
    try:
        request = json.loads(sys.stdin.read())
        from mlops.tracking import Store

        settings = TrackingSettings.model_validate(request["tracking"])
        store = Store(settings, root=Path(request["root"]))
        download(store, str(request["uri"]), Path(argv[0]))
    except MlopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except Exception as exc:
        print(f"error: model fetch failed ({first_line(exc)})", file=sys.stderr)
        return int(ExitCode.ERROR)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
