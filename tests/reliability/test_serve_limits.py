"""Hostile and heavy requests against a real `mlops serve`: every limit answers with its status
(or closes the connection) and the server keeps answering `/health` afterwards."""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from integration.serving import Server, feature_rows, make_project, raw_exchange, register

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
MAX_ROWS = 1000
MAX_COLUMNS = 50


def _start(project: Path, *args: str) -> Iterator[Server]:
    server = Server.start(project, *args)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def rows(trained_template: Path) -> pd.DataFrame:
    return feature_rows(trained_template)


@pytest.fixture(scope="module")
def limited(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Small limits and short deadlines."""
    project = make_project(
        trained_template,
        tmp_path_factory.mktemp("limits") / "project",
        max_rows=MAX_ROWS,
        max_columns=MAX_COLUMNS,
        header_timeout=1.0,
        body_timeout=1.0,
        keep_alive_timeout=1,
    )
    register(project)
    yield from _start(project)


@pytest.fixture(scope="module")
def roomy(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Room for one big batch (a few hundred thousand rows)."""
    project = make_project(
        trained_template,
        tmp_path_factory.mktemp("roomy") / "project",
        max_rows=1_000_000,
        max_body_bytes=64 * 1024 * 1024,
    )
    register(project)
    yield from _start(project, "--threads", "1")


@pytest.fixture(scope="module")
def strict(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A short request timeout and a cap of four connections."""
    project = make_project(
        trained_template,
        tmp_path_factory.mktemp("strict") / "project",
        max_rows=1_000_000,
        max_body_bytes=64 * 1024 * 1024,
        request_timeout=0.5,
        max_connections=4,
    )
    register(project)
    yield from _start(project)


def _split(frame: pd.DataFrame) -> str:
    data = json.loads(frame.to_json(orient="split", index=False))
    return json.dumps({"dataframe_split": {"columns": data["columns"], "data": data["data"]}})


def _records(frame: pd.DataFrame, key: str) -> str:
    return json.dumps({key: json.loads(frame.to_json(orient="records"))})


def _columns(frame: pd.DataFrame) -> str:
    return json.dumps({"inputs": {n: json.loads(frame[n].to_json(orient="values")) for n in frame}})


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _repeat(frame: pd.DataFrame, count: int) -> pd.DataFrame:
    return frame.sample(count, replace=True, random_state=0).reset_index(drop=True)


def _assert_refused(server: Server, body: str | bytes, content_type: str, status: int) -> dict:
    reply = server.post(body, content_type)
    assert reply.status == status, reply.body[:300]
    error = reply.json()
    assert set(error) == {"error_code", "message"}
    assert server.get("/health").status == 200
    return dict(error)


# --------------------------------------------------------------------------- rows and columns

ROW_FORMATS = {
    "dataframe_split": lambda f: (_split(f), JSON),
    "dataframe_records": lambda f: (_records(f, "dataframe_records"), JSON),
    "instances": lambda f: (_records(f, "instances"), JSON),
    "inputs-records": lambda f: (_records(f, "inputs"), JSON),
    "inputs-columns": lambda f: (_columns(f), JSON),
    "csv": lambda f: (f.to_csv(index=False), CSV),
    "parquet": lambda f: (_parquet(f), PARQUET),
}


@pytest.mark.parametrize("fmt", list(ROW_FORMATS))
def test_every_format_answers_413_beyond_the_row_limit_and_200_at_it(
    limited: Server, rows: pd.DataFrame, fmt: str
) -> None:
    body, content_type = ROW_FORMATS[fmt](_repeat(rows, MAX_ROWS + 1))
    error = _assert_refused(limited, body, content_type, 413)
    assert f"the limit is {MAX_ROWS}" in error["message"]
    body, content_type = ROW_FORMATS[fmt](_repeat(rows, MAX_ROWS))
    reply = limited.post(body, content_type)
    assert reply.status == 200, reply.body[:300]
    assert len(reply.json()["predictions"]) == MAX_ROWS


def test_a_tiny_parquet_body_holding_millions_of_rows_is_413_from_its_footer(
    limited: Server,
) -> None:
    table = pa.table({"bill_length_mm": pa.array([40.0] * 2_000_000)})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    body = buffer.getvalue()
    assert len(body) < 100_000  # a few kilobytes that would decode to millions of rows
    error = _assert_refused(limited, body, PARQUET, 413)
    assert "2000000 rows" in error["message"]


WIDE = {
    "csv": lambda n: (",".join(f"c{i}" for i in range(n)) + "\n" + ",".join("1" * n) + "\n", CSV),
    "parquet": lambda n: (_parquet(pd.DataFrame({f"c{i}": [1.0] for i in range(n)})), PARQUET),
    "dataframe_split": lambda n: (
        json.dumps(
            {"dataframe_split": {"columns": [f"c{i}" for i in range(n)], "data": [[1] * n]}}
        ),
        JSON,
    ),
    "dataframe_records": lambda n: (
        json.dumps({"dataframe_records": [{f"c{i}": 1 for i in range(n)}]}),
        JSON,
    ),
    "inputs-columns": lambda n: (json.dumps({"inputs": {f"c{i}": [1] for i in range(n)}}), JSON),
}


@pytest.mark.parametrize("fmt", list(WIDE))
def test_every_format_answers_413_beyond_the_column_limit(limited: Server, fmt: str) -> None:
    body, content_type = WIDE[fmt](MAX_COLUMNS + 1)
    error = _assert_refused(limited, body, content_type, 413)
    assert f"{MAX_COLUMNS + 1} columns" in error["message"]


def test_a_csv_with_200k_columns_is_refused_from_its_header_line(limited: Server) -> None:
    header = ",".join(f"c{i}" for i in range(200_000))
    error = _assert_refused(limited, header + "\n" + "1\n", CSV, 413)
    assert "200000 columns" in error["message"]


# --------------------------------------------------------------------------- JSON depth


@pytest.mark.parametrize("depth", [1000, 5000])
def test_deeply_nested_json_is_400_not_a_recursion_error(limited: Server, depth: int) -> None:
    deep = "[" * depth + "]" * depth
    for body in (
        deep,
        '{"dataframe_split": {"columns": ' + deep + ', "data": [[1]]}}',
        '{"inputs": {"bill_length_mm": [NaN, ' + deep + "]}}",  # the json (not orjson) path
    ):
        error = _assert_refused(limited, body, JSON, 400)
        assert "Traceback" not in error["message"]
    assert "RecursionError" not in limited.output()
    assert "Traceback" not in limited.output()


# --------------------------------------------------------------------------- slow clients


def test_a_slow_body_gets_408_and_the_connection_is_closed(limited: Server) -> None:
    head = (
        f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: {JSON}\r\n"
        "Content-Length: 1000\r\n\r\n"
    ).encode()
    answer = raw_exchange(limited.port, head, [b'{"dataframe_split": '])  # then nothing
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b'"error_code"' in answer or b"connection: close" in answer.lower()
    assert limited.get("/health").status == 200


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closes the connection (reads until EOF; 30 s socket timeout)."""
    sock.settimeout(30)
    try:
        while data := sock.recv(4096):
            if data.startswith(b"HTTP/1.1 5"):
                return False
        return True
    except TimeoutError:
        return False


def test_headers_that_never_complete_are_cut_off(limited: Server) -> None:
    with socket.create_connection(("127.0.0.1", limited.port)) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\n")  # no blank line, ever
        assert _closed_by_server(sock)
    assert limited.get("/health").status == 200


def test_idle_connections_are_closed_so_they_cannot_exhaust_file_descriptors(
    limited: Server,
) -> None:
    idle = [socket.create_connection(("127.0.0.1", limited.port)) for _ in range(50)]
    keep_alive = socket.create_connection(("127.0.0.1", limited.port))
    try:
        keep_alive.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert keep_alive.recv(4096).startswith(b"HTTP/1.1 200 ")
        assert all(_closed_by_server(sock) for sock in idle)
        assert _closed_by_server(keep_alive)  # after its answer, idle too long
    finally:
        for sock in [*idle, keep_alive]:
            sock.close()
    assert limited.get("/health").status == 200


def test_connections_beyond_the_cap_get_503_until_one_closes(strict: Server) -> None:
    held = [socket.create_connection(("127.0.0.1", strict.port)) for _ in range(4)]
    try:
        time.sleep(0.2)  # let the server accept them all (not a timing assertion)
        reply = strict.get("/health")
        assert reply.status == 503, reply.body
    finally:
        for sock in held:
            sock.close()
    strict.wait_ready()


# --------------------------------------------------------------------------- heavy scoring


def test_health_metrics_and_small_requests_answer_while_a_big_batch_is_scored(
    roomy: Server, rows: pd.DataFrame
) -> None:
    big = _repeat(rows, 300_000).to_csv(index=False).encode()
    sent, result = threading.Event(), {}

    def score() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", roomy.port, timeout=300)
        try:
            connection.request("POST", "/invocations", big, {"Content-Type": CSV})
            sent.set()
            response = connection.getresponse()
            result["status"] = response.status
            result["rows"] = len(json.loads(response.read())["predictions"])
        finally:
            sent.set()
            connection.close()

    scorer = threading.Thread(target=score)
    scorer.start()
    try:
        assert sent.wait(300)
        answered_during = 0
        small = _split(rows.head(2))
        while scorer.is_alive():
            replies = [roomy.get("/health"), roomy.get("/metrics"), roomy.post(small)]
            assert [reply.status for reply in replies] == [200, 200, 200]
            if scorer.is_alive():  # all answered before the big batch's answer arrived
                answered_during += 1
        assert answered_during >= 1
    finally:
        scorer.join(300)
    assert result == {"status": 200, "rows": 300_000}


def test_a_request_over_the_timeout_is_504_and_the_server_carries_on(
    strict: Server, rows: pd.DataFrame
) -> None:
    big = _repeat(rows, 300_000).to_csv(index=False).encode()
    error = _assert_refused(strict, big, CSV, 504)
    assert "serve.request_timeout" in error["message"]
    assert error["error_code"] == "DEADLINE_EXCEEDED"
    statuses = []
    for _ in range(100):  # the abandoned batch may still hold the CPU for a while
        reply = strict.post(_split(rows.head(3)))
        statuses.append(reply.status)
        if reply.status == 200:
            assert len(reply.json()["predictions"]) == 3
            break
        time.sleep(0.1)
    assert set(statuses) <= {200, 504}
    assert statuses[-1] == 200
