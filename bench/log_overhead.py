"""What the access log costs per request: in-process microbenchmarks and a real server.

    python bench/log_overhead.py                      # 5 rounds x 3 s per server mode
    python bench/log_overhead.py --rounds 3 --seconds 2 --calls 20000

1. In this process: one access-log call (`AccessLog._log`) with the JSON formatter, the text
   formatter, and the level off, each writing to /dev/null; and the whole middleware (request
   id, header, timing, log line) around a trivial ASGI app against the bare app.
2. Real servers on a light model (logistic regression on penguins, trained once into
   bench/out/log_overhead/project): single-row POST /invocations from one keep-alive client,
   `mlops --log-format json serve` (an access line per request) against `mlops --log-format
   json -q serve` (access lines off), and text; the modes take turns, --rounds times, and the
   median req/s of each is reported. Server stderr goes to a file, as under a supervisor.

Small differences are within the noise of a shared machine: compare medians of several rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
OUT = ROOT / "out" / "log_overhead"
PROJECT = OUT / "project"
MODEL_NAME = "bench-logs"
MODES = {
    "json, access lines": ["--log-format", "json"],
    "json, -q (no access lines)": ["--log-format", "json", "-q"],
    "text, access lines": ["--log-format", "text"],
}


# --------------------------------------------------------------------------- in process


def _scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/invocations",
        "headers": [(b"content-type", b"application/json"), (b"x-request-id", b"bench-1")],
        "mlops.rows": 1,
        "mlops.model_version": "3",
    }


def _handler(fmt: str) -> logging.Handler:
    from mlops import logs

    handler = logging.StreamHandler(Path(os.devnull).open("w"))  # noqa: SIM115
    if fmt == "json":
        handler.setFormatter(logs.json_formatter())
    else:
        handler.setFormatter(logging.Formatter(logs.TEXT_FORMAT))
        handler.addFilter(logs.RedactSecrets())
    return handler


def micro(calls: int, repeats: int) -> dict[str, float]:
    """Microseconds per access-log call and per request through the middleware."""
    from mlops import logs
    from mlops.serve.access import AccessLog

    root = logging.getLogger()
    root.handlers = []
    logs.bind_process(command="serve", model_name=MODEL_NAME, model_version="3")

    async def bare(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"[0]"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    middleware = AccessLog(bare)  # type: ignore[arg-type]
    figures: dict[str, float] = {}
    for name, fmt, level in (
        ("log call, json", "json", logging.INFO),
        ("log call, text", "text", logging.INFO),
        ("log call, level off", "json", logging.WARNING),
    ):
        handler = _handler(fmt)
        root.handlers = [handler]
        root.setLevel(level)
        scope = _scope()
        best = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                middleware._log(scope, "bench-1", 200, 0.001)
            best.append((time.perf_counter() - start) / calls * 1e6)
        figures[name] = statistics.median(best)

    async def requests(app: Any, count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            await app(_scope(), receive, send)
        return (time.perf_counter() - start) / count * 1e6

    for name, app, level in (
        ("request, bare app", bare, logging.INFO),
        ("request, middleware + json line", middleware, logging.INFO),
        ("request, middleware, level off", middleware, logging.WARNING),
    ):
        root.handlers = [_handler("json")]
        root.setLevel(level)
        figures[name] = statistics.median(asyncio.run(requests(app, calls)) for _ in range(repeats))
    root.handlers = []
    return figures


# --------------------------------------------------------------------------- servers


def prepare_project() -> None:
    marker = PROJECT / "bench-model.json"
    if marker.exists():
        return
    if PROJECT.exists():
        shutil.rmtree(PROJECT)
    PROJECT.mkdir(parents=True)
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy2(REPO / name, PROJECT / name)
    shutil.copytree(REPO / "configs", PROJECT / "configs")
    local = PROJECT / "configs" / "local.yaml"
    local.write_text(
        local.read_text().replace("model_name: penguins-classifier", f"model_name: {MODEL_NAME}")
    )
    os.chdir(PROJECT)
    from mlops import registry
    from mlops.data import ingest, split
    from mlops.project import open_project
    from mlops.tracking import Store
    from mlops.train import run_training

    project = open_project(overrides=("model.estimator=logistic_regression",))
    store = Store.for_project(project)
    ingest(project)
    split(project)
    result = run_training(project, store)
    version = registry.register(store, result.model_uri, {"bench": "logs"})
    registry.set_alias(store, "champion", version.version)
    marker.write_text(json.dumps({"version": version.version}))
    os.chdir(REPO)


def single_row() -> bytes:
    import pandas as pd

    test = pd.read_parquet(PROJECT / "data" / "processed" / "test.parquet").drop(
        columns=["species"]
    )
    return json.dumps({"dataframe_records": test.head(1).to_dict("records")}).encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(flags: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    env.update(MLFLOW_DISABLE_TELEMETRY="true", OMP_NUM_THREADS="1")
    env.pop("MLOPS_LOG_FORMAT", None)
    command = [str(bin_dir / "mlops"), *flags, "serve", "--port", str(port)]
    with log.open("wb") as sink:
        return subprocess.Popen(command, cwd=PROJECT, env=env, stdout=sink, stderr=sink)


def wait_ready(proc: subprocess.Popen[bytes], port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {OUT}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                connection.close()
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server not ready in time")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rate(port: int, body: bytes, seconds: float, pid: int) -> tuple[float, float]:
    """Single-row requests per second from one keep-alive client, and the server's CPU time
    per request in microseconds (less sensitive than req/s to other jobs on the machine)."""
    import psutil

    server = psutil.Process(pid)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    for _ in range(50):  # warm-up
        connection.request("POST", "/invocations", body=body, headers=headers)
        connection.getresponse().read()
    count = 0
    cpu = server.cpu_times()
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        connection.request("POST", "/invocations", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        count += 1
    elapsed = time.perf_counter() - start
    after = server.cpu_times()
    connection.close()
    used = (after.user - cpu.user) + (after.system - cpu.system)
    return count / elapsed, used / count * 1e6


def servers(rounds: int, seconds: float) -> dict[str, list[tuple[float, float]]]:
    prepare_project()
    body = single_row()
    results: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    for round_ in range(rounds):
        for mode, flags in MODES.items():
            port = free_port()
            log = OUT / f"serve-{list(MODES).index(mode)}.log"
            proc = start(flags, port, log)
            try:
                wait_ready(proc, port)
                results[mode].append(rate(port, body, seconds, proc.pid))
            finally:
                stop(proc)
            per_second, cpu_us = results[mode][-1]
            print(
                f"  round {round_ + 1} {mode}: {per_second:,.0f} req/s, "
                f"server CPU {cpu_us:,.0f} us/request",
                flush=True,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--no-server", action="store_true", help="only the in-process figures")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"in process ({args.calls} calls, median of {args.repeats}):")
    figures = micro(args.calls, args.repeats)
    for name, value in figures.items():
        print(f"  {name:34s} {value:8.2f} us")
    report: dict[str, Any] = {"micro_us": figures}
    if not args.no_server:
        print(f"servers (single row, 1 keep-alive client, {args.rounds} x {args.seconds:g} s):")
        results = servers(args.rounds, args.seconds)
        rates = {mode: statistics.median(r for r, _ in values) for mode, values in results.items()}
        cpus = {mode: statistics.median(c for _, c in values) for mode, values in results.items()}
        off = cpus["json, -q (no access lines)"]
        for mode in MODES:
            print(
                f"  {mode:28s} median {rates[mode]:6,.0f} req/s, server CPU "
                f"{cpus[mode]:6,.0f} us/request ({cpus[mode] - off:+,.0f} vs no access line)"
            )
        report["servers_req_s"] = results
    (OUT / "bench.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
