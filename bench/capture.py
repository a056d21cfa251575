"""What `serve.capture` costs: single-row throughput of `mlops serve` with capture off vs on.

    python bench/capture.py                 # 3 rounds x 5 s per mode, alternating off/on
    python bench/capture.py --load          # the same with a second process burning a core
    python bench/capture.py --estimator hist_gradient_boosting   # a slower model

Trains the example project (penguins; logistic regression by default: the faster the model,
the larger the capture's share) once in bench/out/capture/project-<estimator> and registers it
as `champion`. Each round starts two real servers on free 127.0.0.1 ports, one with
`serve.capture.enabled: false` and once with `enabled: true, sample_rate: 1.0` (every row
captured), both at the same time, and one client sends single-row requests (keep-alive) to
each in turn, in blocks of 25: the machine's load weighs on both alike. Prints req/s per
round, the medians and their ratio (on / off); figures also go to bench/out/capture/.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
OUT = ROOT / "out" / "capture"
PROJECT = OUT / "project"  # per estimator: set in main()
#: Requests sent to one server before the other takes its turn.
BLOCK = 25


def prepare_project(estimator: str) -> None:
    """Train and register the example model once; reuse it on later runs."""
    marker = PROJECT / "bench-model.json"
    if marker.exists():
        return
    if PROJECT.exists():
        shutil.rmtree(PROJECT)
    PROJECT.mkdir(parents=True)
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy2(REPO / name, PROJECT / name)
    shutil.copytree(REPO / "configs", PROJECT / "configs")
    os.chdir(PROJECT)
    from mlops import registry
    from mlops.data import ingest, split
    from mlops.project import open_project
    from mlops.tracking import Store
    from mlops.train import run_training

    project = open_project(overrides=(f"model.estimator={estimator}",))
    store = Store.for_project(project)
    ingest(project)
    split(project)
    result = run_training(project, store)
    version = registry.register(store, result.model_uri, {"bench": "capture"})
    registry.set_alias(store, "champion", version.version)
    marker.write_text(json.dumps({"version": version.version}))


def configure(capture: bool) -> None:
    config = PROJECT / "configs" / "local.yaml"
    settings = yaml.safe_load(config.read_text())
    settings.setdefault("serve", {})["capture"] = {
        "enabled": capture,
        "sample_rate": 1.0,
        "rotate_rows": 10_000,
    }
    config.write_text(yaml.safe_dump(settings))


def start_server() -> tuple[subprocess.Popen[bytes], int, Path]:
    log = OUT / f"serve-{time.monotonic_ns()}.log"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "1"}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlops", "serve", "--port", "0"],
            cwd=PROJECT,
            env=env,
            stdout=sink,
            stderr=sink,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = re.search(r"on http://127\.0\.0\.1:(\d+) ", log.read_text(errors="replace"))
        if found:
            port = int(found.group(1))
            while time.monotonic() < deadline:
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    connection.request("GET", "/health")
                    if connection.getresponse().status == 200:
                        return process, port, log
                except OSError:
                    pass
                time.sleep(0.1)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise SystemExit(f"server did not start:\n{log.read_text(errors='replace')}")


class Client:
    """One keep-alive client of one server."""

    def __init__(self, port: int, bodies: list[bytes]) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.bodies = bodies
        self.sent = 0
        self.seconds = 0.0

    def send(self, count: int) -> None:
        headers = {"Content-Type": "application/json"}
        start = time.perf_counter()
        for _ in range(count):
            body = self.bodies[self.sent % len(self.bodies)]
            try:
                self.connection.request("POST", "/invocations", body, headers)
                response = self.connection.getresponse()
            except (ConnectionError, http.client.HTTPException):  # idle keep-alive closed
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.connection.request("POST", "/invocations", body, headers)
                response = self.connection.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"request failed: {response.status}")
            self.sent += 1
        self.seconds += time.perf_counter() - start

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def burn(stop: Any) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def captured_rows() -> int:
    import pyarrow.parquet as pq

    files = sorted((PROJECT / "data" / "capture").glob("capture-*.parquet"))
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def micro(rows: int = 20_000) -> dict[str, float]:
    """CPU per captured row in this process (offer on the request path + the writer's work),
    beside the CPU of one single-row predict of the served model: load-independent figures."""
    import tempfile

    import numpy as np
    import pandas as pd

    from mlops import registry
    from mlops.project import open_project
    from mlops.serve.capture import Capture, CaptureOptions
    from mlops.serve.metrics import Metrics
    from mlops.tracking import Store

    os.chdir(PROJECT)
    project = open_project()
    model = registry.load_model(
        Store.for_project(project), f"models:/{project.settings.registry.model_name}@champion"
    ).model
    test = pd.read_parquet(PROJECT / "data" / "processed" / "test.parquet")
    frames = [test.drop(columns=["species"]).iloc[[i % len(test)]] for i in range(rows)]
    prediction = np.array(["Adelie"], dtype=object)
    for frame in frames[:50]:
        model.predict(frame)
    start = time.process_time()
    for frame in frames[:500]:
        model.predict(frame)
    predict = (time.process_time() - start) / 500
    with tempfile.TemporaryDirectory() as tmp:
        capture = Capture(
            CaptureOptions(enabled=True, path=Path(tmp), rotate_rows=10_000), Metrics()
        )
        capture.start()
        start = time.process_time()
        offer_start = time.perf_counter()
        for i, frame in enumerate(frames):
            capture.offer(frame, prediction, "m", "1", f"r{i}")
        offer = (time.perf_counter() - offer_start) / rows
        capture.close()
        total = (time.process_time() - start) / rows
    return {"predict_cpu_s": predict, "capture_cpu_s_per_row": total, "offer_s": offer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--load", action="store_true", help="burn a core in another process")
    parser.add_argument(
        "--estimator",
        default="logistic_regression",
        help="model.estimator to serve (a fast model makes the capture's share larger)",
    )
    args = parser.parse_args()
    global PROJECT
    PROJECT = OUT / f"project-{args.estimator}"
    OUT.mkdir(parents=True, exist_ok=True)
    prepare_project(args.estimator)
    import pandas as pd

    test = pd.read_parquet(PROJECT / "data" / "processed" / "test.parquet")
    records = json.loads(test.drop(columns=["species"]).to_json(orient="records"))
    bodies = [json.dumps({"dataframe_records": [r]}).encode() for r in records]
    stop = multiprocessing.Event()
    burner = None
    if args.load:
        burner = multiprocessing.Process(target=burn, args=(stop,), daemon=True)
        burner.start()
    rates: dict[str, list[float]] = {"off": [], "on": []}
    rows: list[int] = []
    try:
        for round_ in range(args.rounds):
            # Both servers run at once and take turns in short blocks, so that the machine's
            # load (other processes) weighs on both alike: the ratio is what counts.
            shutil.rmtree(PROJECT / "data" / "capture", ignore_errors=True)
            # Which server starts first alternates too (the first one may warm up differently).
            modes = ("off", "on") if round_ % 2 == 0 else ("on", "off")
            servers = {}
            for mode in modes:
                configure(mode == "on")
                servers[mode] = start_server()
            try:
                clients = {mode: Client(servers[mode][1], bodies) for mode in ("off", "on")}
                for client in clients.values():  # warm-up, not timed
                    client.send(200)
                    client.sent, client.seconds = 0, 0.0
                deadline = time.monotonic() + 2 * args.seconds
                turn = 0
                while time.monotonic() < deadline:
                    order = ("off", "on") if turn % 2 == 0 else ("on", "off")
                    for mode in order:
                        clients[mode].send(BLOCK)
                    turn += 1
            finally:
                for process, _, log in servers.values():
                    process.terminate()
                    process.wait(60)
                    log.unlink(missing_ok=True)
            rows.append(captured_rows())
            for mode, client in clients.items():
                rates[mode].append(client.rate)
            print(
                f"round {round_ + 1}: off {clients['off'].rate:8.1f} req/s, "
                f"on {clients['on'].rate:8.1f} req/s ({rows[-1]} rows captured; "
                f"{clients['on'].sent} sent timed + 200 warm-up)",
                flush=True,
            )
    finally:
        stop.set()
        if burner is not None:
            burner.join(10)
        configure(False)
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    ratio = on / off
    cost = micro()
    print(
        f"in-process: capture {1e6 * cost['capture_cpu_s_per_row']:.1f} us CPU per row "
        f"(offer on the request path {1e6 * cost['offer_s']:.1f} us) vs one single-row predict "
        f"{1e3 * cost['predict_cpu_s']:.2f} ms CPU: "
        f"{100 * cost['capture_cpu_s_per_row'] / cost['predict_cpu_s']:.1f}% of the model call"
    )
    print(
        f"{args.estimator}, median single-row throughput{' (loaded)' if args.load else ''}: "
        f"off {off:.1f} req/s, "
        f"on {on:.1f} req/s, ratio on/off {ratio:.3f} (cost {100 * (1 - ratio):.1f}%)"
    )
    (OUT / f"bench-{args.estimator}{'-load' if args.load else ''}.json").write_text(
        json.dumps({"off": rates["off"], "on": rates["on"], "ratio": ratio, **cost}, indent=2)
    )


if __name__ == "__main__":
    main()
