"""Helpers for the server tests: a registered project, a real `mlops serve` process, a client."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

MLOPS = Path(sys.executable).parent / "mlops"
MODEL_NAME = "penguins-classifier"
CHAMPION = f"models:/{MODEL_NAME}@champion"


def process_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MLOPS_CONFIG", "MLOPS_DEBUG", "MLOPS_LOG_FORMAT")
    }
    env["PATH"] = f"{MLOPS.parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    return env


@contextlib.contextmanager
def inside(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def make_project(template: Path, destination: Path, **serve: Any) -> Path:
    """A private copy of the trained template with `serve:` settings for the tests."""
    shutil.copytree(template, destination)
    config_file = destination / "configs" / "local.yaml"
    settings = yaml.safe_load(config_file.read_text())
    settings["serve"] = {**settings.get("serve", {}), **serve}
    config_file.write_text(yaml.safe_dump(settings))
    return destination


def register(project: Path, *, champion: bool = True) -> str:
    """Register the project's trained model as a new version; return the version."""
    from conftest import open_store
    from mlops import registry

    store = open_store(project)
    run = json.loads((project / "models" / "run.json").read_text())
    tags = {"mlops.git_commit": "abc1234"}
    version = registry.register(store, run["model_uri"], tags).version
    if champion:
        registry.set_alias(store, "champion", version)
    return version


def set_champion(project: Path, version: str) -> None:
    from conftest import open_store
    from mlops import registry

    registry.set_alias(open_store(project), "champion", version)


def feature_rows(project: Path) -> pd.DataFrame:
    """Test-split rows as the model's signature types them, with missing values mixed in."""
    frame = pd.read_parquet(project / "data" / "processed" / "test.parquet")
    frame = frame.drop(columns=["species"]).reset_index(drop=True)
    frame.loc[1, "sex"] = None
    frame.loc[2, "bill_length_mm"] = float("nan")
    return frame


def pyfunc_predictions(project: Path, frame: pd.DataFrame, uri: str = CHAMPION) -> list[Any]:
    """What MLflow's own pyfunc model (what `mlflow models serve` runs) predicts for `frame`."""
    import mlflow

    with inside(project):
        mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
        model = mlflow.pyfunc.load_model(uri)
        types = {
            c["name"]: c["type"] for c in json.loads(model.metadata.get_input_schema().to_json())
        }
        typed = frame.astype({n: "float64" for n, t in types.items() if t == "double"})
        return list(model.predict(typed).tolist())


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    """A real `mlops serve` process on a free 127.0.0.1 port."""

    process: subprocess.Popen[bytes]
    log: Path
    port: int = 0
    connections: list[http.client.HTTPConnection] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        project: Path,
        *args: str,
        timeout: float = 60,
        env: Mapping[str, str] | None = None,
    ) -> Server:
        """`mlops serve --port 0 ARGS` in `project`; `env` replaces the test environment."""
        log = project / f"serve-{time.monotonic_ns()}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [str(MLOPS), "serve", "--port", "0", *args],
                cwd=project,
                env=dict(env) if env is not None else process_env(),
                stdout=sink,
                stderr=sink,
            )
        server = cls(process, log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"on http://127\.0\.0\.1:(\d+) ", log.read_text(errors="replace"))
            if found:
                server.port = int(found.group(1))
                return server
            if process.poll() is not None:
                break
            time.sleep(0.05)
        server.stop()
        raise AssertionError(f"server did not start:\n{log.read_text(errors='replace')}")

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] = {}
    ) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=dict(headers))
            response = connection.getresponse()
            return Reply(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, body: bytes | str, content_type: str = "application/json") -> Reply:
        data = body.encode() if isinstance(body, str) else body
        return self.request("POST", "/invocations", data, {"Content-Type": content_type})

    def wait_for(self, path: str, predicate: Any, timeout: float = 60) -> Reply:
        deadline = time.monotonic() + timeout
        reply: Reply | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited:\n{self.log.read_text(errors='replace')}")
            with contextlib.suppress(OSError):
                reply = self.get(path)
                if predicate(reply):
                    return reply
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting on {path}: last {reply}\n{self.output()}")

    def wait_ready(self, timeout: float = 60) -> Reply:
        return self.wait_for("/health", lambda r: r.status == 200, timeout)

    def metrics(self) -> str:
        reply = self.get("/metrics")
        assert reply.status == 200
        return reply.body.decode()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def sample(metrics: str, metric: str, **labels: str) -> float:
    """The value of one series in a Prometheus text exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    series = f"{metric}{{{wanted}}}" if wanted else metric
    found = re.search(rf"^{re.escape(series)} (\S+)$", metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def raw_exchange(port: int, head: bytes, chunks: list[bytes], pause: float = 0.0) -> bytes:
    """Send raw bytes (headers, then body chunks) and read until the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        for chunk in chunks:
            try:
                sock.sendall(chunk)
            except OSError:
                break
            if pause:
                time.sleep(pause)
        data = b""
        while b"\r\n\r\n" not in data:
            part = sock.recv(65536)
            if not part:
                break
            data += part
        return data
