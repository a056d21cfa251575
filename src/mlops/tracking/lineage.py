"""Lineage: the tags that tie a run to its code, data and params."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops import __version__
from mlops.config import Config

TAG_PREFIX = "mlops."


@dataclass(frozen=True)
class GitState:
    commit: str
    dirty: bool


def git_state(cwd: Path | None = None) -> GitState:
    """The current commit and whether the work tree has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return GitState(commit="unknown", dirty=True)
    return GitState(commit=commit, dirty=bool(status.strip()))


def lineage_tags(config: Config, data_hashes: Mapping[str, str]) -> dict[str, str]:
    """Tags that tie a run to code, data and params."""
    git = git_state()
    tags = {
        f"{TAG_PREFIX}git_commit": git.commit,
        f"{TAG_PREFIX}git_dirty": str(git.dirty).lower(),
        f"{TAG_PREFIX}params_sha256": config.params_hash(),
        f"{TAG_PREFIX}version": __version__,
        f"{TAG_PREFIX}overrides": ";".join(config.overrides),
        "mlflow.source.git.commit": git.commit,
    }
    for name, digest in data_hashes.items():
        tags[f"{TAG_PREFIX}data.{name}_md5"] = digest
    return tags
