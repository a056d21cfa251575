"""Registry lookups without MLflow, against real stores: an MLflow SQLite file and a real MLflow
tracking server (`mlflow server` on 127.0.0.1), and the model cache that scoring processes fill.

The MLflow client (`mlops.registry.get_alias` / `get_version`) is the reference every MLflow-free
answer is compared with.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import open_store
from mlops import registry
from mlops.errors import MlopsError, RegistryError
from mlops.registry import fetch
from mlops.registry.local import ModelVersionInfo, load_model_dir, local_directory
from mlops.registry.lookup import SqliteLookup, Unavailable, open_lookup

from .registry_helpers import keep_mlflow_uris, same
from .serving import (
    MODEL_NAME,
    make_project,
    process_env,
    register,
    set_champion,
)

__all__ = ["keep_mlflow_uris"]  # an autouse fixture, used by being imported


# --------------------------------------------------------------------------- SQLite store


def test_sqlite_lookup_agrees_with_the_mlflow_client(trained_project: Path) -> None:
    first = register(trained_project, champion=False)
    store = open_store()
    run = json.loads(Path("models/run.json").read_text())
    second = registry.register(
        store, run["model_uri"], {"mlops.git_commit": "def5678", "note": "v2"}
    ).version
    assert (first, second) == ("1", "2")
    registry.set_alias(store, "champion", first)  # the alias on the older version
    registry.set_alias(store, "challenger", second)

    lookup = open_lookup(store.uri)
    assert isinstance(lookup, SqliteLookup)
    assert lookup.identity == str((trained_project / "mlflow.db").resolve())

    for alias, version in (("champion", first), ("challenger", second)):
        found = lookup.alias(MODEL_NAME, alias)
        reference = registry.get_alias(store, alias)
        assert same(found, reference) == {}
        assert found is not None and found.version == version
        assert found.aliases == (alias,)
    for version in (first, second):
        found = lookup.version(MODEL_NAME, version)
        assert same(found, registry.get_version(store, version)) == {}
    v2 = lookup.version(MODEL_NAME, second)
    assert v2 is not None and v2.tags == {"mlops.git_commit": "def5678", "note": "v2"}

    # The files are on this machine: read in place, no download.
    for version in (first, second):
        info = lookup.version(MODEL_NAME, version)
        assert info is not None and info.storage_location is not None
        assert info.storage_location.startswith("file:")
        directory = local_directory(info)
        assert directory is not None and (directory / "MLmodel").is_file()

    assert lookup.alias(MODEL_NAME, "no-such-alias") is None
    assert registry.get_alias(store, "no-such-alias") is None
    assert lookup.version(MODEL_NAME, "99") is None
    assert lookup.alias("no-such-model", "champion") is None
    assert lookup.version("no-such-model", "1") is None

    # A deleted alias is gone for both readers.
    registry.delete_alias(store, "challenger")
    assert lookup.alias(MODEL_NAME, "challenger") is None
    assert registry.get_alias(store, "challenger") is None


def test_stores_the_lookup_cannot_read_are_unavailable(trained_project: Path) -> None:
    missing = trained_project / "no-such.db"
    with pytest.raises(Unavailable):
        open_lookup(f"sqlite:///{missing}").alias(MODEL_NAME, "champion")
    assert not missing.exists()  # a read-only lookup never creates a store

    empty = trained_project / "other.db"
    with contextlib.closing(sqlite3.connect(empty)) as conn:
        conn.execute("CREATE TABLE things (id INTEGER)")
        conn.commit()
    with pytest.raises(Unavailable):
        open_lookup(f"sqlite:///{empty}").alias(MODEL_NAME, "champion")
    with pytest.raises(Unavailable):
        open_lookup(f"sqlite:///{empty}").version(MODEL_NAME, "1")

    garbage = trained_project / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(Unavailable):
        open_lookup(f"sqlite:///{garbage}").alias(MODEL_NAME, "champion")

    with pytest.raises(Unavailable) as refused:
        open_lookup("postgresql://admin:s3cret@db.internal:5432/mlflow")
    assert "s3cret" not in str(refused.value)
    for uri in ("sqlite:///:memory:", "sqlite:///", "sqlite://", "file:///tmp/mlruns"):
        with pytest.raises(Unavailable):
            open_lookup(uri)


def test_load_model_falls_back_to_the_mlflow_client(
    trained_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store only MLflow reads: here a schema revision the lookup was not tested with."""
    version = register(trained_project)
    store = open_store()
    monkeypatch.setattr("mlops.tracking.readonly.TESTED_REVISIONS", frozenset())
    with pytest.raises(Unavailable, match="untested MLflow schema revision"):
        open_lookup(store.location).alias(MODEL_NAME, "champion")

    loaded = registry.load_model(store)
    assert (loaded.version, loaded.alias, loaded.git_commit) == (version, "champion", "abc1234")
    assert (loaded.path / "MLmodel").is_file()
    assert store.model_cache in [loaded.path, *loaded.path.parents]
    assert store.model_cache == trained_project / ".mlops" / "model-cache"
    assert registry.find_alias(store, MODEL_NAME, "no-such-alias") is None
    by_version = registry.load_model(store, f"models:/{MODEL_NAME}/{version}")
    assert by_version.version == version and by_version.path == loaded.path  # cached once


# --------------------------------------------------------------------------- no MLflow in scoring

SCORER = """
import json, sys
from mlops.project import open_project
from mlops.serve.app import create_app
from mlops.serve.options import ServeOptions

def report(loaded):
    current = app.holder.current
    print(json.dumps({
        "loaded": loaded,
        "version": current.version if current else None,
        "error": app.holder.last_error,
        "imported": sorted(m for m in ("mlflow", "sqlalchemy", "alembic") if m in sys.modules),
    }), flush=True)

app = create_app(ServeOptions.from_project(open_project()))
report(app.holder.load_first())
sys.stdin.readline()  # the test moves the alias
report(app.holder.poll())
report(app.holder.poll())  # nothing moved since
"""


def test_the_scoring_process_never_imports_mlflow(trained_template: Path, tmp_path: Path) -> None:
    project = make_project(trained_template, tmp_path / "project")
    assert register(project) == "1"
    assert register(project, champion=False) == "2"
    log = tmp_path / "scorer.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", SCORER],
            cwd=project,
            env=process_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
        )
    assert process.stdin is not None and process.stdout is not None
    watchdog = threading.Timer(120, process.kill)  # a hung child fails the test, not the run
    watchdog.start()
    try:
        first = json.loads(process.stdout.readline() or "null")
        assert first == {"loaded": True, "version": "1", "error": None, "imported": []}, (
            log.read_text(errors="replace") if first is None else first
        )
        set_champion(project, "2")
        process.stdin.write("moved\n")
        process.stdin.flush()
        moved = json.loads(process.stdout.readline())
        assert moved == {"loaded": True, "version": "2", "error": None, "imported": []}
        again = json.loads(process.stdout.readline())
        assert again == {"loaded": False, "version": "2", "error": None, "imported": []}
        assert process.wait(30) == 0
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()


# --------------------------------------------------------------------------- model cache

CRASH = """
import os, signal, sys
from pathlib import Path
entry = Path(sys.argv[1])
scratch = entry.with_name(f"{entry.name}.tmp-{os.getpid()}")
scratch.mkdir()
(scratch / "MLmodel").write_text("flavors: {}")  # half a download, even an MLmodel
print(os.getpid(), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_fetch_cache_survives_crashes_and_is_reused_without_a_download(
    trained_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = register(trained_project)
    store = open_store()
    info = SqliteLookup(Path("mlflow.db")).alias(MODEL_NAME, "champion")
    assert info is not None and info.version == version
    entry = fetch.entry_dir(store, info)
    assert store.model_cache in entry.parents
    assert fetch.cached(store, info) is None
    entry.parent.mkdir(parents=True)

    # A fetch killed mid-download leaves its scratch directory behind, never an entry.
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH, str(entry)], capture_output=True, text=True, check=False
    )
    assert crashed.returncode == -signal.SIGKILL
    stale = entry.with_name(f"{entry.name}{fetch.TEMP_MARK}{int(crashed.stdout)}")
    assert (stale / "MLmodel").is_file() and not entry.exists()
    assert fetch.cached(store, info) is None
    # Another process still downloading: its scratch directory must survive the sweep.
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        busy = entry.parent / f"{entry.name}-other{fetch.TEMP_MARK}{alive.pid}"
        busy.mkdir()

        path = fetch.ensure(store, info)
        assert path == entry
        assert not stale.exists()
        assert busy.is_dir()
        assert sorted(p.name for p in entry.parent.iterdir()) == sorted([entry.name, busy.name])
        model, inputs = load_model_dir(entry)
        assert hasattr(model, "predict") and inputs
    finally:
        alive.kill()
        alive.wait()

    # Reused as is: any download (here or in a child process) would fail, and none happens.
    downloads: list[str] = []

    def no_download(_store: object, uri: str, _target: Path) -> None:
        downloads.append(uri)
        raise RegistryError(f"model {uri}: store unreachable")

    other = ModelVersionInfo(
        name=MODEL_NAME, version="99", aliases=(), run_id=None, source="", created_ms=0, status=""
    )
    with monkeypatch.context() as patched:
        patched.setattr(fetch, "download", no_download)
        patched.setattr(fetch, "_download_in_child", no_download)
        stamps = {p: p.stat().st_mtime_ns for p in [entry, *entry.iterdir()]}
        started = time.perf_counter()
        assert fetch.ensure(store, info) == entry
        assert time.perf_counter() - started < 0.5
        assert {p: p.stat().st_mtime_ns for p in [entry, *entry.iterdir()]} == stamps
        assert downloads == []

        # ... which the same call for a version not in the cache proves: it fails, leaving
        # nothing of its own, and sweeps the scratch directory of the downloader that has died.
        with pytest.raises(MlopsError):
            fetch.ensure(store, other)
        assert downloads == [other.uri]
        assert [p.name for p in entry.parent.iterdir()] == [entry.name]
    # Without the stand-in, the real download of a version the registry lacks fails the same way.
    with pytest.raises(MlopsError):
        fetch.ensure(store, other)
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]
