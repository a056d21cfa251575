"""The server's life cycle: not ready (503) until the champion exists, follows the alias through a
promotion and a rollback without failing a request, stops gracefully on SIGTERM; and the same
contract with several worker processes."""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from .serving import (
    MODEL_NAME,
    Server,
    feature_rows,
    make_project,
    register,
    sample,
    set_champion,
)

JSON = "application/json"


def _split(frame: pd.DataFrame) -> str:
    data = json.loads(frame.to_json(orient="split", index=False))
    return json.dumps({"dataframe_split": {"columns": data["columns"], "data": data["data"]}})


class Hammer:
    """One keep-alive client posting in a loop until stopped (bounded by count and time)."""

    def __init__(self, port: int, body: str, limit: int = 5000, seconds: float = 60) -> None:
        self.port, self.body, self.limit, self.seconds = port, body, limit, seconds
        self.statuses: list[int] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Hammer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def wait_for(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.statuses) < count and time.monotonic() < deadline and not self.errors:
            time.sleep(0.02)

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                if len(self.statuses) >= self.limit:
                    break
                connection.request("POST", "/invocations", self.body, {"Content-Type": JSON})
                response = connection.getresponse()
                response.read()
                self.statuses.append(response.status)
        except OSError as exc:
            self.errors.append(repr(exc))
        finally:
            connection.close()


@pytest.fixture
def project(trained_template: Path, tmp_path: Path) -> Path:
    return make_project(trained_template, tmp_path / "project", reload_interval=0.2)


def test_the_server_waits_for_the_champion_follows_it_and_stops_gracefully(
    project: Path,
) -> None:
    register(project, champion=False)  # v1 exists, no champion yet
    server = Server.start(project)
    try:
        loading = server.wait_for("/health", lambda r: r.status == 503 and r.json()["error"])
        assert loading.json()["status"] == "loading"
        assert "champion" in loading.json()["error"]
        assert server.get("/ping").status == 503
        assert server.get("/version").status == 503
        body = _split(feature_rows(project).head(4))
        refused = server.post(body)
        assert refused.status == 503
        assert refused.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"

        set_champion(project, "1")
        server.wait_ready(timeout=60)
        assert server.get("/version").json()["version"] == "1"
        assert server.post(body).status == 200

        # A promotion while a client keeps scoring: the swap fails no request.
        with Hammer(server.port, body) as hammer:
            hammer.wait_for(3)
            assert register(project) == "2"
            moved = server.wait_for("/version", lambda r: r.json()["version"] == "2", 60)
            before_swap = len(hammer.statuses)
            hammer.wait_for(before_swap + 3)
        assert moved.json()["alias"] == "champion"
        assert hammer.errors == []
        assert set(hammer.statuses) == {200}
        assert len(hammer.statuses) >= before_swap + 3 >= 6  # requests on both sides of the swap

        metrics = server.metrics()
        info = {"name": MODEL_NAME, "alias": "champion"}
        run_ids = {
            line.split('run_id="')[1].split('"')[0]
            for line in metrics.splitlines()
            if line.startswith("mlops_model_info{")
        }
        (run_id,) = run_ids
        assert sample(metrics, "mlops_model_info", **info, run_id=run_id, version="2") == 1
        assert sample(metrics, "mlops_model_info", **info, run_id=run_id, version="1") == 0
        assert sample(metrics, "mlops_model_loads_total", result="success") == 2

        # A rollback is just another move of the alias.
        set_champion(project, "1")
        server.wait_for("/version", lambda r: r.json()["version"] == "1", 60)

        # SIGTERM while a large batch is being scored: it still gets its answer.
        big = _split(pd.concat([feature_rows(project)] * 200, ignore_index=True))
        replies: list[int] = []
        worker = threading.Thread(target=lambda: replies.append(server.post(big).status))
        worker.start()
        time.sleep(0.3)
        code = server.stop()
        worker.join(60)
        assert replies == [200]
        assert code == 0
        assert "Traceback" not in server.output()
    finally:
        server.stop()


def test_several_workers_share_one_port_and_one_set_of_metrics(project: Path) -> None:
    register(project)
    server = Server.start(project, "--workers", "2")
    try:
        server.wait_ready(timeout=120)
        body = _split(feature_rows(project).head(2))
        before = server.metrics()
        for _ in range(20):  # a new connection each: the kernel spreads them over the workers
            assert server.post(body).status == 200
        after = server.metrics()
        route = {"route": "/invocations", "status": "200"}
        assert (
            sample(after, "mlops_requests_total", **route)
            - sample(before, "mlops_requests_total", **route)
            == 20
        )
        assert (
            sample(after, "mlops_rows_scored_total") - sample(before, "mlops_rows_scored_total")
            == 40
        )
        assert sample(after, "mlops_requests_in_flight") == 1
        assert "Traceback" not in server.output()
        assert server.stop() == 0
    finally:
        server.stop()


def _register_broken(project: Path) -> str:
    """A new version whose model files are garbage (a copy of v1's, overwritten)."""
    from conftest import open_store
    from mlops import registry

    from .serving import inside

    store = open_store(project)
    with inside(project):
        store.activate()
        broken = registry.download_model(f"models:/{MODEL_NAME}/1", project / "broken-model")
    for path in broken.rglob("*"):
        if path.is_file() and path.name != "MLmodel":
            path.write_bytes(b"not a model")
    version = store.client.create_model_version(MODEL_NAME, source=broken.as_uri(), run_id=None)
    return str(version.version)


def test_a_failed_reload_leaves_the_loaded_model_serving_and_answers_name_it(
    project: Path,
) -> None:
    register(project)
    server = Server.start(project)
    try:
        server.wait_ready()
        body = _split(feature_rows(project).head(4))
        for reply in (
            server.post(body),
            server.get("/health"),
            server.get("/version"),
            server.get("/ping"),
            server.post('{"inputs": 1}'),  # a 400 is answered by a version too
        ):
            assert reply.headers["x-model-version"] == "1", reply
            assert reply.headers["x-model-name"] == MODEL_NAME
        expected = server.post(body).json()

        broken = _register_broken(project)
        set_champion(project, broken)
        server.wait_for(
            "/metrics",
            lambda r: sample(r.body.decode(), "mlops_model_loads_total", result="failure"),
        )
        for _ in range(20):  # the failed reload is retried on every poll: none disturbs serving
            reply = server.post(body)
            assert reply.status == 200
            assert reply.json() == expected
            assert reply.headers["x-model-version"] == "1"
        health = server.get("/health")
        assert health.status == 200
        assert health.json()["version"] == "1"
        error = health.json()["reload_error"]  # said, not hidden behind "ready"
        assert "not a skops model file" in error and "until its files change" in error, error
        assert server.get("/version").json()["version"] == "1"
        assert server.process.poll() is None
        # The refused files are not loaded again while they stay the same (loading a model that
        # inflates to gigabytes on every retry grew memory): 15 polls, still one failed load.
        time.sleep(3)
        failures = sample(
            server.get("/metrics").body.decode(), "mlops_model_loads_total", result="failure"
        )
        assert failures == 1, failures
        assert server.get("/health").json()["reload_error"] == error

        assert register(project) == str(int(broken) + 1)  # a good version moves it on
        moved = server.wait_for("/version", lambda r: r.json()["version"] != "1", 60)
        assert moved.headers["x-model-version"] == moved.json()["version"]
        assert server.post(body).headers["x-model-version"] == moved.json()["version"]
    finally:
        server.stop()


def test_refused_model_files_are_not_loaded_again_until_they_change(project: Path) -> None:
    """`--model DIR` whose model file is garbage: 503 naming it, one failed load however many
    polls pass while the file stays the same, and the fixed file (changed in place) is served."""
    import shutil

    from conftest import open_store
    from mlops import registry

    from .serving import inside

    run = json.loads((project / "models" / "run.json").read_text())
    with inside(project):
        open_store(project).activate()
        good = registry.download_model(run["model_uri"], project / "good")
    served = project / "served"
    shutil.copytree(good, served)
    (model_file,) = [p for p in served.iterdir() if p.suffix == ".skops"]
    model_file.write_bytes(b"not a model")
    server = Server.start(project, "--model", str(served))
    try:
        reply = server.wait_for("/health", lambda r: r.status == 503 and r.json()["error"])
        assert "not a skops model file" in reply.json()["error"]
        assert "until its files change" in reply.json()["error"]
        time.sleep(3)  # about three polls (once a second while nothing is loaded)
        failures = sample(server.metrics(), "mlops_model_loads_total", result="failure")
        assert failures == 1, failures
        assert server.get("/health").status == 503
        shutil.copyfile(good / model_file.name, model_file)  # fixed in place
        server.wait_ready()
        body = _split(feature_rows(project).head(4))
        assert server.post(body).status == 200
        assert sample(server.metrics(), "mlops_model_loads_total", result="failure") == 1
    finally:
        server.stop()
