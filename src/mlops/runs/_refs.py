"""Run references: a run id (or unique prefix), `@alias`, a DVC experiment, a run name, a git rev."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from mlops.runs._common import RunRefError
from mlops.tracking import Store, tags
from mlops.tracking.runs import find_run_ids

_HEX = re.compile(r"[0-9a-f]{4,32}")


def resolve_ref(store: Store, root: Path, ref: str) -> str:
    """The run id `ref` names, tried in this order: `@alias` (registry alias -> version -> its
    run); a run id or a unique prefix of one (4+ hex digits); a DVC experiment name (the newest
    run tagged with it); a run name (the newest); a git revision such as `HEAD` or `main~1`
    (the newest training run at that commit). `RunRefError` names the ref otherwise."""
    text = ref.strip()
    if not text:
        raise RunRefError("run reference: empty")
    if text.startswith("@"):
        return _alias(store, text)
    if _HEX.fullmatch(text):
        found = find_run_ids(store, prefix=text)
        if len(found) == 1 or (found and text in found):
            return text if text in found else found[0]
        if len(found) > 1:
            raise RunRefError(
                f"{ref}: ambiguous run id prefix ({len(found)} runs: "
                f"{', '.join(f[:12] for f in found[:3])}...); give more digits"
            )
    for wanted in ({tags.DVC_EXPERIMENT: text}, None):
        found = find_run_ids(store, tags=wanted, name=None if wanted else text)
        if found:
            return _prefer_training(store, found, wanted or {}, text)
    commit = _git_commit(root, text)
    if commit is not None:
        found = find_run_ids(store, tags={tags.GIT_COMMIT: commit})
        if found:
            return _prefer_training(store, found, {tags.GIT_COMMIT: commit}, None)
        raise RunRefError(
            f"{ref}: commit {commit[:7]} has no run in experiment {store.settings.experiment!r} "
            f"(train at that commit first)"
        )
    raise RunRefError(
        f"{ref}: no run id, @alias, DVC experiment, run name or git revision of that name in "
        f"experiment {store.settings.experiment!r}"
    )


def _prefer_training(
    store: Store, found: list[str], wanted: dict[str, str], name: str | None
) -> str:
    """The newest `mlops train` run among `found` (a tuning study shares the lineage tags)."""
    if len(found) > 1:
        training = find_run_ids(
            store, tags={**wanted, tags.STAGE: "train"}, name=None if wanted else name
        )
        if training:
            return training[0]
    return found[0]


def _alias(store: Store, ref: str) -> str:
    from mlops import registry

    alias = ref[1:]
    model = store.model_name
    if not alias:
        raise RunRefError(f"{ref}: expected @<alias>, e.g. @champion")
    info = registry.find_alias(store, model, alias) if store.exists() else None
    if info is None:
        raise RunRefError(f"{ref}: model {model!r} has no alias {alias!r}")
    if not info.run_id:
        raise RunRefError(f"{ref}: {model} v{info.version} was not registered from a run")
    return info.run_id


def _git_commit(root: Path, rev: str) -> str | None:
    """The full sha `rev` names in the project's git repository, or None."""
    if rev.startswith("-"):
        return None
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = done.stdout.strip()
    return sha if done.returncode == 0 and sha else None
