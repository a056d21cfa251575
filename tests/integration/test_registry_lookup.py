"""Registry lookups without MLflow, against real stores: an MLflow SQLite file and a real MLflow
tracking server (`mlflow server` on 127.0.0.1), and the model cache that scoring processes fill.

The MLflow client (`mlops.registry.get_alias` / `get_version`) is the reference every MLflow-free
answer is compared with.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops import registry
from mlops.config import Config, load_config
from mlops.errors import MlopsError
from mlops.registry import fetch
from mlops.registry.local import ModelVersionInfo, load_model_dir, local_directory
from mlops.registry.lookup import RestLookup, SqliteLookup, Unavailable, open_lookup

from .serving import (
    MLOPS,
    MODEL_NAME,
    Server,
    feature_rows,
    inside,
    make_project,
    process_env,
    register,
    set_champion,
)

#: What a lookup must report exactly as the MLflow client does.
FIELDS = ("name", "version", "run_id", "source", "status", "created_ms", "tags")


def same(found: ModelVersionInfo | None, reference: ModelVersionInfo | None) -> dict[str, Any]:
    """The fields that differ between a lookup's answer and the MLflow client's (empty: equal)."""
    assert found is not None and reference is not None, (found, reference)
    return {
        name: (getattr(found, name), getattr(reference, name))
        for name in FIELDS
        if getattr(found, name) != getattr(reference, name)
    }


def set_tracking_uri(project: Path, uri: str) -> None:
    config_file = project / "configs" / "local.yaml"
    settings = yaml.safe_load(config_file.read_text())
    settings["tracking"]["uri"] = uri
    config_file.write_text(yaml.safe_dump(settings))


def with_tracking_uri(config: Config, uri: str) -> Config:
    tracking_settings = config.settings.tracking.model_copy(update={"uri": uri})
    settings = config.settings.model_copy(update={"tracking": tracking_settings})
    return config.model_copy(update={"settings": settings})


def project_config(project: Path) -> Config:
    with inside(project):
        return load_config()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cache_listing(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_dir())


@pytest.fixture(autouse=True)
def keep_mlflow_uris() -> Iterator[None]:
    """Tests here point MLflow at throwaway stores: leave its global URIs as they were."""
    import mlflow

    tracking_uri, registry_uri = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    yield
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(registry_uri)


# --------------------------------------------------------------------------- SQLite store


def test_sqlite_lookup_agrees_with_the_mlflow_client(trained_project: Path) -> None:
    first = register(trained_project, champion=False)
    config = load_config()
    run = json.loads(Path("models/run.json").read_text())
    second = registry.register(
        config, run["model_uri"], run["run_id"], {"mlops.git_commit": "def5678", "note": "v2"}
    ).version
    assert (first, second) == ("1", "2")
    registry.set_alias(config, "champion", first)  # the alias on the older version
    registry.set_alias(config, "challenger", second)

    lookup = open_lookup(config.settings.tracking.uri)
    assert isinstance(lookup, SqliteLookup)
    assert lookup.identity == str((trained_project / "mlflow.db").resolve())

    for alias, version in (("champion", first), ("challenger", second)):
        found = lookup.alias(MODEL_NAME, alias)
        reference = registry.get_alias(config, alias)
        assert same(found, reference) == {}
        assert found is not None and found.version == version
        assert found.aliases == (alias,)
    for version in (first, second):
        found = lookup.version(MODEL_NAME, version)
        assert same(found, registry.get_version(config, version)) == {}
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
    assert registry.get_alias(config, "no-such-alias") is None
    assert lookup.version(MODEL_NAME, "99") is None
    assert lookup.alias("no-such-model", "champion") is None
    assert lookup.version("no-such-model", "1") is None

    # A deleted alias is gone for both readers.
    registry.delete_alias(config, "challenger")
    assert lookup.alias(MODEL_NAME, "challenger") is None
    assert registry.get_alias(config, "challenger") is None


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


def test_load_model_falls_back_to_the_mlflow_client(trained_project: Path) -> None:
    """A store only MLflow reads (here `sqlite+pysqlite://`, which SQLAlchemy accepts)."""
    version = register(trained_project)
    set_tracking_uri(trained_project, "sqlite+pysqlite:///mlflow.db")
    config = load_config()
    with pytest.raises(Unavailable):
        open_lookup(config.settings.tracking.uri)

    loaded = registry.load_model(config)
    assert (loaded.version, loaded.alias, loaded.git_commit) == (version, "champion", "abc1234")
    assert (loaded.path / "MLmodel").is_file()
    assert Path(".mlops/model-cache") in [loaded.path, *loaded.path.parents]
    assert registry.find_alias(config, MODEL_NAME, "no-such-alias") is None
    by_version = registry.load_model(config, f"models:/{MODEL_NAME}/{version}")
    assert by_version.version == version and by_version.path == loaded.path  # cached once


# --------------------------------------------------------------------------- no MLflow in scoring

SCORER = """
import json, sys
from mlops.config import load_config
from mlops.serve.app import ServeOptions, create_app

def report(loaded):
    current = app.holder.current
    print(json.dumps({
        "loaded": loaded,
        "version": current.version if current else None,
        "error": app.holder.last_error,
        "imported": sorted(m for m in ("mlflow", "sqlalchemy", "alembic") if m in sys.modules),
    }), flush=True)

app = create_app(ServeOptions.from_config(load_config()))
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
    config = load_config()
    info = SqliteLookup(Path("mlflow.db")).alias(MODEL_NAME, "champion")
    assert info is not None and info.version == version
    identity = "store-under-test"
    entry = fetch.entry_dir(config, identity, info)
    assert fetch.cached(config, identity, info) is None
    entry.parent.mkdir(parents=True)

    # A fetch killed mid-download leaves its scratch directory behind, never an entry.
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH, str(entry)], capture_output=True, text=True, check=False
    )
    assert crashed.returncode == -signal.SIGKILL
    stale = entry.with_name(f"{entry.name}{fetch.TEMP_MARK}{int(crashed.stdout)}")
    assert (stale / "MLmodel").is_file() and not entry.exists()
    assert fetch.cached(config, identity, info) is None
    # Another process still downloading: its scratch directory must survive the sweep.
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        busy = entry.parent / f"{entry.name}-other{fetch.TEMP_MARK}{alive.pid}"
        busy.mkdir()

        path = fetch.ensure(config, identity, info)
        assert path == entry
        assert not stale.exists()
        assert busy.is_dir()
        assert sorted(p.name for p in entry.parent.iterdir()) == sorted([entry.name, busy.name])
        model, inputs = load_model_dir(entry)
        assert hasattr(model, "predict") and inputs
    finally:
        alive.kill()
        alive.wait()

    # Reused as is: with the store unreachable any download would fail, and none happens.
    stamps = {p: p.stat().st_mtime_ns for p in [entry, *entry.iterdir()]}
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    offline = with_tracking_uri(config, f"http://127.0.0.1:{free_port()}")
    started = time.perf_counter()
    assert fetch.ensure(offline, identity, info) == entry
    assert time.perf_counter() - started < 0.5
    assert {p: p.stat().st_mtime_ns for p in [entry, *entry.iterdir()]} == stamps

    # ... which the same call for a version not in the cache proves: it fails, leaving nothing
    # of its own, and sweeps the scratch directory of the downloader that has died meanwhile.
    other = ModelVersionInfo(
        name=MODEL_NAME, version="99", aliases=(), run_id=None, source="", created_ms=0, status=""
    )
    with pytest.raises(MlopsError):
        fetch.ensure(offline, identity, other)
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]


# --------------------------------------------------------------------------- a tracking server


@dataclass
class Remote:
    url: str
    project: Path
    promote: subprocess.CompletedProcess[str]
    champion: str


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def mlflow_server(tmp: Path) -> Iterator[str]:
    """A real `mlflow server` (SQLite backend, proxied artifacts) on a free 127.0.0.1 port."""
    port = free_port()
    log = tmp / "mlflow-server.log"
    env = {
        **process_env(),
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no background job consumers
    }
    command = [sys.executable, "-m", "mlflow", "server", "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{tmp / 'server.db'}"]
    command += ["--artifacts-destination", str(tmp / "artifacts")]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as sink:
        server = subprocess.Popen(
            command,
            cwd=tmp,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: uvicorn's worker goes with it
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while not healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.skip(
                    "cannot start `mlflow server` here "
                    f"(exit code {server.poll()}): {log.read_text(errors='replace')[-2000:]}"
                )
            time.sleep(0.2)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        with contextlib.suppress(ProcessLookupError):  # any straggler of its process group
            os.killpg(server.pid, signal.SIGKILL)


def cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MLOPS), *args],
        cwd=project,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def remote(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    """A project whose tracking URI is a real MLflow server: `mlops train` creates the
    experiment there (artifacts proxied by the server) and `mlops promote` crowns its run."""
    tmp = tmp_path_factory.mktemp("mlflow-server")
    with mlflow_server(tmp) as url:
        project = make_project(trained_template, tmp / "project", reload_interval=0.5)
        set_tracking_uri(project, url)

        train = cli(project, "train")
        assert train.returncode == 0, train.stderr
        promote = cli(project, "promote")
        config = project_config(project)
        champion = registry.get_alias(config, "champion")
        assert champion is not None
        yield Remote(url, project, promote, champion.version)


def test_promote_registers_the_champion_on_a_tracking_server(remote: Remote) -> None:
    assert remote.promote.returncode == 0, remote.promote.stderr
    assert "promoted v1" in remote.promote.stderr + remote.promote.stdout
    # The experiment `mlops train` created keeps its artifacts on the server, not on this disk.
    experiment = registry.client(project_config(remote.project)).get_experiment_by_name("mlops")
    assert experiment is not None
    assert experiment.artifact_location.startswith("mlflow-artifacts:")


def test_rest_lookup_agrees_with_the_mlflow_client(remote: Remote) -> None:
    config = project_config(remote.project)
    lookup = open_lookup(remote.url)
    assert isinstance(lookup, RestLookup) and lookup.identity == remote.url

    found = lookup.alias(MODEL_NAME, "champion")
    reference = registry.get_alias(config, "champion")
    assert same(found, reference) == {}
    assert found is not None and found.version == remote.champion
    assert found.aliases == ("champion",)
    run = json.loads((remote.project / "models" / "run.json").read_text())
    assert found.run_id == run["run_id"]  # the run `mlops train` just logged on the server
    by_version = lookup.version(MODEL_NAME, remote.champion)
    assert same(by_version, registry.get_version(config, remote.champion)) == {}
    assert local_directory(found) is None  # the files are behind the server: fetched, cached

    assert lookup.version(MODEL_NAME, "99") is None
    assert lookup.alias("no-such-model", "champion") is None
    assert lookup.version("no-such-model", "1") is None

    # Credentials in the URI are not part of the identity (the cache key).
    with_user = RestLookup(remote.url.replace("http://", "http://alice:pw@"))
    assert with_user.identity == remote.url


def test_rest_lookup_missing_alias_is_none(remote: Remote) -> None:
    assert RestLookup(remote.url).alias(MODEL_NAME, "no-such-alias") is None


def test_serving_from_a_tracking_server_fetches_once_into_the_cache(remote: Remote) -> None:
    import mlflow

    cache = remote.project / ".mlops" / "model-cache"
    shutil.rmtree(cache, ignore_errors=True)
    rows = feature_rows(remote.project).head(12)
    server = Server.start(remote.project)
    try:
        health = server.wait_ready(timeout=90)
        assert health.json() == {"status": "ready", "model": MODEL_NAME, "version": remote.champion}
        version = server.get("/version").json()
        assert (version["version"], version["alias"]) == (remote.champion, "champion")
        assert version["uri"] == f"models:/{MODEL_NAME}@champion"

        data = json.loads(rows.to_json(orient="split", index=False))
        reply = server.post(json.dumps({"dataframe_split": data}))
        assert reply.status == 200, reply.body
        answered = reply.json()["predictions"]
    finally:
        server.stop()
    assert "Traceback" not in server.output()

    # MLflow's own pyfunc model, loaded through the server, predicts the same.
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(remote.url)
    try:
        model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion")
    finally:
        mlflow.set_tracking_uri(previous)
    schema = json.loads(model.metadata.get_input_schema().to_json())
    typed = rows.astype({c["name"]: "float64" for c in schema if c["type"] == "double"})
    expected = list(model.predict(typed).tolist())
    assert answered == expected
    assert len(set(expected)) > 1

    # The files came through the server's artifact proxy, not from a path on this machine ...
    run = json.loads((remote.project / "models" / "run.json").read_text())
    model_id = run["model_uri"].removeprefix("models:/")
    assert list((remote.project.parent / "artifacts").rglob(f"{model_id}/**/MLmodel"))
    assert not list((remote.project / "mlartifacts").rglob(model_id))
    # ... into one complete entry in the project's cache, nothing half-written left behind.
    mlmodels = list(cache.rglob("MLmodel"))
    assert len(mlmodels) == 1, cache_listing(cache)
    entry = mlmodels[0].parent
    assert entry.name.endswith(f"-v{remote.champion}")
    info = RestLookup(remote.url).alias(MODEL_NAME, "champion")
    assert info is not None
    assert entry == remote.project / fetch.entry_dir(
        project_config(remote.project), remote.url, info
    )
    assert not [name for name in cache_listing(cache) if fetch.TEMP_MARK in name]
