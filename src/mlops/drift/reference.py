"""Which data is the reference: the champion's training data, found through its lineage."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mlops import artifacts, registry
from mlops.errors import DataError, MlopsError
from mlops.project import Project
from mlops.registry import ModelVersionInfo
from mlops.tracking import Store, tags

log = logging.getLogger(__name__)

TRAIN_MD5_TAG = tags.TRAIN_MD5
TEST_MD5_TAG = tags.TEST_MD5
Origin = Literal["argument", "champion", "dvc_cache", "fallback"]


@dataclass(frozen=True)
class Champion:
    """The champion version, or why there is none (`info` is None)."""

    info: ModelVersionInfo | None
    note: str

    @property
    def label(self) -> str | None:
        if self.info is None:
            return None
        return f"{self.info.name} v{self.info.version}"


@dataclass(frozen=True)
class ReferenceChoice:
    path: Path
    origin: Origin
    reason: str
    md5: str | None = None
    #: The file type when the path has no suffix (a DVC cache object).
    suffix: str | None = None


def find_champion(store: Store) -> Champion:
    """The version the champion alias points at; registry problems become a note, not a crash.

    A local store not created yet is not opened (that would create it); the alias is read
    through the MLflow-free lookup where the store allows.
    """
    names = store.names
    where = f"alias {names.champion_alias!r} of {names.model_name!r}"
    if not store.exists():
        return Champion(None, f"no tracking store at {store.shown}, so no {where}")
    try:
        info = registry.find_alias(store, names.model_name, names.champion_alias)
    except MlopsError as exc:
        return Champion(None, f"registry unavailable ({exc})")
    if info is None:
        return Champion(None, f"no champion ({where} is not set)")
    return Champion(info, f"champion {info.name} v{info.version}")


def champion_train_md5(store: Store, info: ModelVersionInfo) -> str | None:
    """The md5 of the training data, from the version's tags or its run's lineage tags."""
    return lineage_md5(store, info, TRAIN_MD5_TAG)


def lineage_md5(store: Store, info: ModelVersionInfo, tag: str) -> str | None:
    """A data hash recorded under `tag`, on the version or on its run."""
    if tag in info.tags:
        return info.tags[tag]
    if info.run_id is None:
        return None
    try:
        values = store.get_run(info.run_id).data.tags
    except MlopsError as exc:
        log.warning("cannot read the lineage of run %s: %s", info.run_id, exc)
        return None
    value = values.get(tag)
    return str(value) if value else None


def dvc_cache_path(md5: str, root: Path) -> Path | None:
    """The DVC cache object for a file hash (DVC 3 layout, then DVC 2), if present."""
    for candidate in (
        root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:],
        root / ".dvc" / "cache" / md5[:2] / md5[2:],
    ):
        if candidate.is_file():
            return candidate
    return None


def resolve_reference(
    project: Project, store: Store, explicit: Path | None, champion: Champion
) -> ReferenceChoice:
    """`explicit` if given; else the champion's training data (by hash); else `paths.train`."""
    if explicit is not None:
        return ReferenceChoice(explicit, "argument", "given with --reference")
    train = project.settings.paths.train
    shown = project.relative(train)  # reports are committed: no machine-specific paths
    info = champion.info
    if info is None:
        return _fallback(train, f"{champion.note}; using {shown}")
    label = champion.label
    md5 = champion_train_md5(store, info)
    if md5 is None:
        return _fallback(train, f"{label} has no {TRAIN_MD5_TAG} lineage tag; using {shown}")
    if train.is_file() and artifacts.file_md5(train) == md5:
        return ReferenceChoice(train, "champion", f"training data of {label} (md5 {md5})", md5)
    cached = dvc_cache_path(md5, project.root)
    if cached is not None:
        why = f"training data of {label} from the DVC cache (md5 {md5})"
        return ReferenceChoice(cached, "dvc_cache", why, md5, suffix=train.suffix or ".parquet")
    return _fallback(
        train,
        f"training data of {label} (md5 {md5}) is neither {shown} nor in the DVC cache; "
        f"using {shown}",
    )


def _fallback(train: Path, reason: str) -> ReferenceChoice:
    if not train.exists():
        raise DataError(
            f"{train}: reference data not found ({reason.split(';')[0]}); run `mlops data split` "
            "or pass --reference"
        )
    return ReferenceChoice(train, "fallback", reason)


def resolve_holdout(project: Project, store: Store, champion: Champion) -> ReferenceChoice | None:
    """The rows the champion was evaluated on and never trained on: the reference for its
    predictions (on its training rows a model is over-fitted, so new data always looks
    different). The champion's test split (by the `data.test_md5` lineage tag, in place or in
    the DVC cache), else `paths.test`; None when there is neither."""
    test = project.settings.paths.test
    shown = project.relative(test)
    info = champion.info
    md5 = lineage_md5(store, info, TEST_MD5_TAG) if info is not None else None
    if md5 is not None:
        label = champion.label
        if test.is_file() and artifacts.file_md5(test) == md5:
            why = f"held-out test split of {label}, {shown} (md5 {md5})"
            return ReferenceChoice(test, "champion", why, md5)
        cached = dvc_cache_path(md5, project.root)
        if cached is not None:
            why = f"held-out test split of {label} from the DVC cache (md5 {md5})"
            return ReferenceChoice(cached, "dvc_cache", why, md5, suffix=test.suffix or ".parquet")
    if not test.is_file():
        return None
    if md5 is None:
        return ReferenceChoice(test, "fallback", f"held-out test split {shown}")
    return ReferenceChoice(
        test,
        "fallback",
        f"test split {shown}, not the champion's (md5 {md5}): it may hold rows it was trained on",
    )
