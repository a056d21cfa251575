"""`mlops serve` as a real process on 127.0.0.1, driven by a real HTTP client.

Predictions are checked against `mlflow.pyfunc.load_model(...).predict` (what `mlflow models
serve` answers) for every payload format of MLflow's scoring protocol.
"""

from __future__ import annotations

import io
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from .serving import (
    MODEL_NAME,
    Server,
    feature_rows,
    make_project,
    pyfunc_predictions,
    raw_exchange,
    register,
    sample,
)

LIMIT = 4 * 1024 * 1024
JSON = "application/json"


@pytest.fixture(scope="module")
def project(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = make_project(
        trained_template, tmp_path_factory.mktemp("serve") / "project", max_body_bytes=LIMIT
    )
    register(path)
    return path


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[Server]:
    server = Server.start(project)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def rows(project: Path) -> pd.DataFrame:
    return feature_rows(project).head(12)


@pytest.fixture(scope="module")
def expected(project: Path, rows: pd.DataFrame) -> list[Any]:
    return pyfunc_predictions(project, rows)


def _split(frame: pd.DataFrame) -> str:
    data = json.loads(frame.to_json(orient="split", index=False))
    return json.dumps({"dataframe_split": {"columns": data["columns"], "data": data["data"]}})


def _records(frame: pd.DataFrame, key: str = "dataframe_records") -> str:
    return json.dumps({key: json.loads(frame.to_json(orient="records"))})


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def _inputs_columns(frame: pd.DataFrame) -> str:
    columns = {name: json.loads(frame[name].to_json(orient="values")) for name in frame.columns}
    return json.dumps({"inputs": columns})


PAYLOADS = {
    "dataframe_split": lambda f: (_split(f), JSON),
    "dataframe_records": lambda f: (_records(f), JSON),
    "instances": lambda f: (_records(f, "instances"), JSON),
    "inputs-records": lambda f: (_records(f, "inputs"), JSON),
    "inputs-columns": lambda f: (_inputs_columns(f), JSON),
    "csv": lambda f: (f.to_csv(index=False), "text/csv"),
    "parquet": lambda f: (_parquet(f), "application/vnd.apache.parquet"),
}


# --------------------------------------------------------------------------- protocol


@pytest.mark.parametrize("fmt", list(PAYLOADS))
def test_every_payload_format_predicts_what_mlflow_pyfunc_predicts(
    server: Server, rows: pd.DataFrame, expected: list[Any], fmt: str
) -> None:
    body, content_type = PAYLOADS[fmt](rows)
    reply = server.post(body, content_type)
    assert reply.status == 200, reply.body
    assert reply.json() == {"predictions": expected}
    assert len(set(expected)) > 1  # the rows span several classes: a real comparison


def test_the_response_is_byte_for_byte_mlflows(
    server: Server, rows: pd.DataFrame, expected: list[Any]
) -> None:
    reply = server.post(_split(rows))
    assert reply.headers["content-type"] == JSON
    assert reply.body == json.dumps({"predictions": expected}).encode()


def test_ping_health_and_version_describe_the_model(server: Server, project: Path) -> None:
    ping = server.get("/ping")
    assert (ping.status, ping.body) == (200, b"\n")
    assert server.get("/health").json() == {"status": "ready", "model": MODEL_NAME, "version": "1"}
    version = server.get("/version").json()
    run = json.loads((project / "models" / "run.json").read_text())
    assert version["name"] == MODEL_NAME
    assert version["version"] == "1"
    assert version["alias"] == "champion"
    assert version["run_id"] == run["run_id"]
    assert version["git_commit"] == "abc1234"


# --------------------------------------------------------------------------- client mistakes

SECRET = "SECRET-PAYLOAD-7731"


def _without(frame: pd.DataFrame, *columns: str) -> str:
    return _split(frame.drop(columns=list(columns)))


MISTAKES: dict[str, tuple[str, str | bytes, Any, int, str]] = {
    "text/plain": ("POST", f"{SECRET}", "text/plain", 415, "unsupported Content-Type"),
    "no content type": ("POST", "{}", None, 415, "missing Content-Type"),
    "latin-1": ("POST", "{}", "application/json; charset=latin-1", 415, "utf-8"),
    "malformed JSON": ("POST", '{"dataframe_split": ' + SECRET, JSON, 400, "malformed JSON"),
    "not UTF-8": ("POST", b"\xff\xfe\xfd", JSON, 400, "malformed JSON"),
    "two formats": ("POST", '{"instances": [], "inputs": []}', JSON, 400, "exactly one of"),
    "unknown format": ("POST", json.dumps({SECRET: 1}), JSON, 400, "exactly one of"),
    "empty body": ("POST", b"", JSON, 400, "empty request body"),
    "no rows": ("POST", '{"dataframe_split": {"columns": [], "data": []}}', JSON, 400, "missing"),
    "wrong type": (
        "POST",
        json.dumps({"inputs": {"bill_length_mm": [SECRET], "island": ["Dream"]}}),
        JSON,
        400,
        "",
    ),
    "bad csv": ("POST", f'a,b\n1,"{SECRET}\n', "text/csv", 400, ""),
    "bad parquet": ("POST", b"PAR1" + SECRET.encode(), "application/vnd.apache.parquet", 400, ""),
    "GET invocations": ("GET", "", None, 405, "POST"),
    "POST ping": ("POST", "{}", JSON, 405, "GET"),
}


@pytest.mark.parametrize("case", list(MISTAKES))
def test_client_mistakes_get_a_short_4xx_never_a_5xx(server: Server, case: str) -> None:
    method, body, content_type, status, fragment = MISTAKES[case]
    headers = {"Content-Type": content_type} if content_type else {}
    path = "/ping" if case == "POST ping" else "/invocations"
    data = body.encode() if isinstance(body, str) else body
    reply = server.request(method, path, data or None, headers)
    assert reply.status == status, reply.body
    error = reply.json()
    assert set(error) == {"error_code", "message"}
    assert fragment in error["message"]
    assert SECRET not in reply.body.decode(errors="replace")
    assert "Traceback" not in reply.body.decode(errors="replace")
    assert len(error["message"]) < 400


def test_schema_violations_list_every_missing_column(server: Server, rows: pd.DataFrame) -> None:
    reply = server.post(_without(rows, "island", "sex"))
    assert reply.status == 400
    assert "missing 2 required columns: island, sex" in reply.json()["message"]


def test_wrong_types_are_400_naming_the_column(server: Server, rows: pd.DataFrame) -> None:
    bad = rows.astype({"bill_length_mm": str})
    reply = server.post(_split(bad))
    assert reply.status == 400
    assert "column 'bill_length_mm': expected double" in reply.json()["message"]


def test_infinite_values_are_400(server: Server, rows: pd.DataFrame) -> None:
    bad = rows.head(2).assign(bill_depth_mm=float("inf"))
    body = json.dumps({"dataframe_records": bad.to_dict("records")}, default=str)
    assert "Infinity" in body
    reply = server.post(body)
    assert reply.status == 400
    assert "infinite values are not allowed" in reply.json()["message"]


def test_extra_columns_are_ignored(server: Server, rows: pd.DataFrame, expected: list[Any]) -> None:
    reply = server.post(_split(rows.assign(customer_id=range(len(rows)))))
    assert reply.json() == {"predictions": expected}


def test_unknown_paths_are_404(server: Server) -> None:
    reply = server.get("/admin")
    assert reply.status == 404
    assert reply.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_a_declared_length_over_the_limit_is_413_before_the_body_is_read(server: Server) -> None:
    head = (
        f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: {JSON}\r\n"
        f"Content-Length: {LIMIT + 1}\r\n\r\n"
    ).encode()
    answer = raw_exchange(server.port, head, [b"{" * 1024])  # 1 KiB sent of 4 MiB declared
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_a_streamed_body_over_the_limit_is_413(server: Server) -> None:
    head = (
        f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: {JSON}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    piece = b" " * (256 * 1024)
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    chunks = [chunk] * (LIMIT // len(piece) + 2) + [b"0\r\n\r\n"]
    answer = raw_exchange(server.port, head, chunks)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert server.get("/health").status == 200


# --------------------------------------------------------------------------- metrics


def test_metrics_count_exactly(server: Server, rows: pd.DataFrame, expected: list[Any]) -> None:
    three = rows.head(3)  # rows 1 and 2 hold a missing value each
    labels = Counter(expected[:3])
    before = server.metrics()
    for _ in range(5):
        assert server.post(_split(three)).status == 200
    for _ in range(2):
        assert server.post("{oops").status == 400
    assert server.post("x", "text/plain").status == 415
    after = server.metrics()

    def delta(metric: str, **labels: str) -> float:
        return sample(after, metric, **labels) - sample(before, metric, **labels)

    route = "/invocations"
    assert delta("mlops_requests_total", route=route, status="200") == 5
    assert delta("mlops_requests_total", route=route, status="400") == 2
    assert delta("mlops_requests_total", route=route, status="415") == 1
    assert delta("mlops_request_duration_seconds_count", route=route) == 8
    assert delta("mlops_rows_scored_total") == 15
    assert delta("mlops_model_calls_total") == 5  # one after another: nothing to share a call
    assert delta("mlops_input_rows_with_missing_total") == 10
    for label, count in labels.items():
        assert delta("mlops_predictions_total", label=str(label)) == 5 * count
    assert sample(after, "mlops_requests_in_flight") == 1  # the scrape itself
    assert sample(after, "mlops_model_ready") == 1
    info = {"name": MODEL_NAME, "version": "1", "alias": "champion"}
    assert "mlops_model_info{" in after
    assert any(
        line.startswith("mlops_model_info{")
        and all(f'{k}="{v}"' in line for k, v in info.items())
        and line.endswith(" 1.0")
        for line in after.splitlines()
    )


# --------------------------------------------------------------------------- load


def test_sixteen_concurrent_clients_get_no_errors(
    server: Server, rows: pd.DataFrame, expected: list[Any]
) -> None:
    bodies = [(_split(rows.iloc[[i]]), expected[i]) for i in range(len(rows))]
    failures: list[str] = []
    counts = [0] * 16
    deadline = time.monotonic() + 3.0

    def client(index: int) -> None:
        import http.client

        rng = random.Random(index)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            while time.monotonic() < deadline and counts[index] < 500:
                body, want = rng.choice(bodies)
                connection.request("POST", "/invocations", body, {"Content-Type": JSON})
                response = connection.getresponse()
                answer = response.read()
                counts[index] += 1
                if response.status != 200 or json.loads(answer) != {"predictions": [want]}:
                    failures.append(f"{response.status} {answer[:100]!r}")
        except OSError as exc:
            failures.append(repr(exc))
        finally:
            connection.close()

    before = server.metrics()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    after = server.metrics()
    assert failures == []
    assert all(count > 0 for count in counts)
    assert server.get("/health").status == 200
    # Every answer above was checked row by row, and concurrent requests shared model calls.
    calls = sample(after, "mlops_model_calls_total") - sample(before, "mlops_model_calls_total")
    assert 0 < calls < sum(counts)


# --------------------------------------------------------------------------- stricter than MLflow

#: Values MLflow's schema enforcement coerces and `mlops serve` refuses (README: "Where mlops is
#: stricter than MLflow"): each would be a silent guess about what the client meant.
COERCIONS: dict[str, tuple[str, Any]] = {
    "text in a double column": ("bill_length_mm", "41.5"),
    "fraction in an integer column": ("year", 2008.5),
    "number in a text column": ("island", 1),
    "boolean in a text column": ("island", True),
}


@pytest.mark.parametrize("case", list(COERCIONS))
def test_mlops_refuses_what_mlflow_coerces(
    server: Server, project: Path, rows: pd.DataFrame, case: str
) -> None:
    column, value = COERCIONS[case]
    frame = rows.iloc[[0, 3]].reset_index(drop=True).astype(object)
    frame[column] = [value] * len(frame)
    body = json.dumps({"dataframe_records": frame.to_dict("records")})
    reply = server.post(body)
    assert reply.status == 400, reply.body
    assert f"column {column!r}" in reply.json()["message"]
    # `mlflow models serve` answers the same body (its JSON parsing casts to the signature).
    import mlflow
    from mlflow.pyfunc.scoring_server import invocations

    from .serving import inside

    with inside(project):
        mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
        model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion")
        answer = invocations(body, JSON, model, model.metadata.get_input_schema())
    assert answer.status == 200, answer.response
    assert len(json.loads(answer.response)["predictions"]) == len(frame)
