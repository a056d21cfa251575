"""The toolkit against a real MLflow tracking server (`mlflow server` on 127.0.0.1): `mlops train`
and `mlops promote` through its API and artifact proxy, MLflow-free REST lookups, and `mlops serve`
fetching the champion once into the model cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.helpers import run_mlops
from mlops import registry
from mlops.registry import fetch
from mlops.registry.local import local_directory
from mlops.registry.lookup import RestLookup, open_lookup

from .registry_helpers import (
    cache_listing,
    free_port,
    keep_mlflow_uris,
    project_store,
    same,
    set_tracking_uri,
)
from .serving import (
    MODEL_NAME,
    Server,
    feature_rows,
    make_project,
    process_env,
)

__all__ = ["keep_mlflow_uris"]  # an autouse fixture, used by being imported


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


@pytest.fixture(scope="module")
def remote(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    """A project whose tracking URI is a real MLflow server: `mlops train` creates the
    experiment there (artifacts proxied by the server) and `mlops promote` crowns its run."""
    tmp = tmp_path_factory.mktemp("mlflow-server")
    with mlflow_server(tmp) as url:
        project = make_project(trained_template, tmp / "project", reload_interval=0.5)
        set_tracking_uri(project, url)

        train = run_mlops("train", cwd=project)
        assert train.returncode == 0, train.stderr
        promote = run_mlops("promote", cwd=project)
        champion = registry.get_alias(project_store(project), "champion")
        assert champion is not None
        yield Remote(url, project, promote, champion.version)


def test_promote_registers_the_champion_on_a_tracking_server(remote: Remote) -> None:
    assert remote.promote.returncode == 0, remote.promote.stderr
    assert "promoted v1" in remote.promote.stderr + remote.promote.stdout
    # The experiment `mlops train` created keeps its artifacts on the server, not on this disk.
    experiment = project_store(remote.project).client.get_experiment_by_name("mlops")
    assert experiment is not None
    assert experiment.artifact_location.startswith("mlflow-artifacts:")


def test_rest_lookup_agrees_with_the_mlflow_client(remote: Remote) -> None:
    store = project_store(remote.project)
    lookup = open_lookup(remote.url)
    assert isinstance(lookup, RestLookup) and lookup.identity == remote.url

    found = lookup.alias(MODEL_NAME, "champion")
    reference = registry.get_alias(store, "champion")
    assert same(found, reference) == {}
    assert found is not None and found.version == remote.champion
    assert found.aliases == ("champion",)
    run = json.loads((remote.project / "models" / "run.json").read_text())
    assert found.run_id == run["run_id"]  # the run `mlops train` just logged on the server
    by_version = lookup.version(MODEL_NAME, remote.champion)
    assert same(by_version, registry.get_version(store, remote.champion)) == {}
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
    store = project_store(remote.project)
    assert store.location.identity == remote.url
    assert entry == fetch.entry_dir(store, info)
    assert not [name for name in cache_listing(cache) if fetch.TEMP_MARK in name]
