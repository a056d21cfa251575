"""DVC adapter: verify tracked data and the cache against the lock, push/pull/status a remote."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from mlops import artifacts
from mlops.errors import DataError, one_line
from mlops.project import Project

State = Literal["ok", "modified", "missing", "corrupted", "not_cached"]


class VerifiedObject(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    stage: str
    md5: str
    workspace: State
    cache: State
    detail: str = ""

    @property
    def healthy(self) -> bool:
        return self.workspace in ("ok", "missing") and self.cache in ("ok", "not_cached")


class VerifyReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    objects: list[VerifiedObject]

    @property
    def problems(self) -> list[VerifiedObject]:
        return [o for o in self.objects if not o.healthy]

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "checked": len(self.objects),
            "problems": len(self.problems),
            **self.model_dump(mode="json"),
        }


@contextlib.contextmanager
def open_repo(root: Path) -> Iterator[Any]:
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            yield repo
    except NotDvcRepoError as exc:
        raise DataError(f"{root}: not a DVC repository (run `dvc init`)") from exc


def _check_file(path: Path, md5: str) -> State:
    if not path.exists():
        return "missing"
    return "ok" if artifacts.file_md5(path) == md5 else "modified"


def _check_cache_object(path: Path, md5: str) -> tuple[State, str]:
    if not path.exists():
        return "missing", f"cache object {path} not found"
    actual = artifacts.file_md5(path)
    if actual != md5:
        return "corrupted", f"cache object {path} hashes to {actual}"
    return "ok", ""


def _check_dir(repo: Any, out_path: Path, oid: str, cached: bool) -> tuple[State, State, str]:
    """A directory output: its manifest in the cache, and every file it lists."""
    manifest_path = Path(repo.cache.local.oid_to_path(oid))
    digest = oid.removesuffix(".dir")
    if not manifest_path.exists():
        workspace: State = "missing" if not out_path.exists() else "ok"
        return workspace, ("missing" if cached else "not_cached"), "directory manifest not in cache"
    if artifacts.file_md5(manifest_path) != digest:
        return "ok", "corrupted", f"manifest {manifest_path} does not match its hash"
    try:
        entries = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "ok", "corrupted", f"manifest {manifest_path} is not valid JSON"
    workspace_state: State = "ok" if out_path.exists() else "missing"
    cache_state: State = "ok" if cached else "not_cached"
    details = []
    for entry in entries:
        relpath, md5 = str(entry["relpath"]), str(entry["md5"])
        if ".." in Path(relpath).parts or Path(relpath).is_absolute():
            return workspace_state, "corrupted", f"manifest entry {relpath!r} escapes the directory"
        if out_path.exists():
            state = _check_file(out_path / relpath, md5)
            if state != "ok":
                workspace_state = "modified"
                details.append(f"{relpath}: {state}")
        if cached:
            state, detail = _check_cache_object(Path(repo.cache.local.oid_to_path(md5)), md5)
            if state != "ok":
                cache_state = state
                details.append(detail)
    return workspace_state, cache_state, "; ".join(details)


def verify(project: Project) -> VerifyReport:
    """Rehash every DVC-tracked output and its cache object against dvc.lock / .dvc files."""
    objects: list[VerifiedObject] = []
    with open_repo(project.root) as repo:
        for stage in repo.index.stages:
            for out in stage.outs:
                oid = out.hash_info.value if out.hash_info else None
                rel = str(out.def_path)
                if not oid:
                    continue
                path = Path(out.fs_path)
                if oid.endswith(".dir"):
                    workspace, cache, detail = _check_dir(repo, path, oid, bool(out.use_cache))
                else:
                    workspace = _check_file(path, oid)
                    cache, detail = "not_cached", ""
                    if out.use_cache:
                        cache, detail = _check_cache_object(
                            Path(repo.cache.local.oid_to_path(oid)), oid
                        )
                objects.append(
                    VerifiedObject(
                        path=rel,
                        stage=str(stage.addressing),
                        md5=oid,
                        workspace=workspace,
                        cache=cache,
                        detail=detail,
                    )
                )
    report = VerifyReport(objects=objects)
    artifacts.write_json(project.settings.paths.reports / "data_verify.json", report.to_json())
    return report


#: Libraries under DVC's remotes whose exceptions DVC lets through unwrapped (an S3 endpoint
#: that refuses the connection raises botocore's EndpointConnectionError from `repo.push`).
_REMOTE_LIBRARIES = frozenset(
    {"botocore", "aiobotocore", "aiohttp", "s3fs", "fsspec", "gcsfs", "adlfs", "urllib3"}
)


def _remote_failure(exc: Exception) -> bool:
    """An error of the remote's transport (network, credentials), not a bug of ours or DVC's."""
    from dvc.exceptions import DvcException

    root = type(exc).__module__.split(".", 1)[0]
    return isinstance(exc, DvcException | OSError) or root in _REMOTE_LIBRARIES


def _dvc_error(action: str, exc: Exception, remote: str | None = None) -> DataError:
    """DVC's message on one line, with the advice it prints below the first line kept."""
    where = f" (remote {remote!r})" if remote else ""
    return DataError(f"dvc {action}{where}: {one_line(exc)}")


def push(project: Project) -> int:
    """Push cached outputs to the configured remote; return how many objects were sent."""
    with open_repo(project.root) as repo:
        try:
            return int(repo.push(remote=project.settings.dvc.remote))
        except Exception as exc:
            if not _remote_failure(exc):
                raise
            raise _dvc_error("push", exc, project.settings.dvc.remote) from exc


def pull(project: Project) -> dict[str, Any]:
    """Pull from the remote into the cache and workspace, then verify what arrived."""
    with open_repo(project.root) as repo:
        try:
            stats = repo.pull(remote=project.settings.dvc.remote)
        except Exception as exc:
            if not _remote_failure(exc):
                raise
            raise _dvc_error("pull", exc, project.settings.dvc.remote) from exc
    return {key: len(value) if isinstance(value, list) else value for key, value in stats.items()}


def status(project: Project) -> dict[str, Any]:
    """What differs between the workspace, the cache and the remote."""
    with open_repo(project.root) as repo:
        try:
            local = repo.status()
            cloud = repo.status(cloud=True, remote=project.settings.dvc.remote)
        except Exception as exc:
            if not _remote_failure(exc):
                raise
            raise _dvc_error("status", exc, project.settings.dvc.remote) from exc
    return {"workspace": local, "remote": cloud}
