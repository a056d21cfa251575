"""The registry model cache stays bounded: the newest versions of a model, and the one in use."""

from __future__ import annotations

from pathlib import Path

from mlops.registry.fetch import prune


def _entries(root: Path, model: str, versions: range) -> dict[int, Path]:
    made = {}
    for number in versions:
        entry = root / f"{model}-v{number}"
        entry.mkdir(parents=True)
        (entry / "MLmodel").write_text("flavors: {}\n")
        made[number] = entry
    return made


def _left(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def test_only_the_newest_versions_of_that_model_are_kept(tmp_path: Path) -> None:
    entries = _entries(tmp_path, "aaaa", range(1, 9))
    _entries(tmp_path, "bbbb", range(1, 3))  # another model: untouched
    (tmp_path / "aaaa-v9.tmp-123").mkdir()  # a download in progress: untouched

    removed = prune(entries[8], keep=5)

    assert sorted(p.name for p in removed) == ["aaaa-v1", "aaaa-v2", "aaaa-v3"]
    assert _left(tmp_path) == [
        "aaaa-v4", "aaaa-v5", "aaaa-v6", "aaaa-v7", "aaaa-v8", "aaaa-v9.tmp-123",
        "bbbb-v1", "bbbb-v2",
    ]  # fmt: skip


def test_the_version_just_fetched_is_kept_even_when_older(tmp_path: Path) -> None:
    entries = _entries(tmp_path, "aaaa", range(2, 9))  # a rollback fetched v2 again

    prune(entries[2], keep=5)

    assert entries[2].is_dir()
    assert not entries[3].exists()
    assert _left(tmp_path) == ["aaaa-v2", "aaaa-v4", "aaaa-v5", "aaaa-v6", "aaaa-v7", "aaaa-v8"]
