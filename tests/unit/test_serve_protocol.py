"""MLflow's scoring protocol (`mlops.serve.protocol`) and the server's metrics, without a server."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest

from mlops.serve import protocol
from mlops.serve.metrics import MAX_CLASS_LABELS, Metrics
from mlops.serve.protocol import RequestError

ROWS = [{"a": 1.5, "b": "x"}, {"a": 2.0, "b": None}]
WANTED = ("a", "b")


def _json(payload: object) -> bytes:
    return json.dumps(payload).encode()


# --------------------------------------------------------------------------- content types


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/json", "application/json"),
        ("application/json; charset=utf-8", "application/json"),
        ("Application/JSON;charset=UTF-8", "application/json"),
        ("text/csv", "text/csv"),
        ("application/vnd.apache.parquet", "application/vnd.apache.parquet"),
    ],
)
def test_the_protocols_content_types_are_accepted(header: str, expected: str) -> None:
    assert protocol.media_type(header) == expected


@pytest.mark.parametrize(
    "header",
    [None, "", "text/plain", "application/xml", "application/json; charset=latin-1",
     "application/json; format=pandas-split"],
)  # fmt: skip
def test_other_content_types_are_415(header: str | None) -> None:
    with pytest.raises(RequestError) as caught:
        protocol.media_type(header)
    assert caught.value.status == 415


# --------------------------------------------------------------------------- JSON formats


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1.5, "x"], [2.0, None]]}},
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1.5, "x"], [2.0, None]],
                             "index": [5, 6]}},
        {"dataframe_records": ROWS},
        {"instances": ROWS},
        {"inputs": ROWS},
        {"inputs": {"a": [1.5, 2.0], "b": ["x", None]}},
        {"instances": {"a": [1.5, 2.0], "b": ["x", None]}},
        {"dataframe_records": ROWS, "params": {"ignored": True}},
    ],
    ids=["split", "split-index", "records", "instances", "inputs-records", "inputs-columns",
         "instances-columns", "with-params"],
)  # fmt: skip
def test_every_json_format_gives_the_same_rows(payload: dict[str, object]) -> None:
    rows = protocol.parse_body(_json(payload), protocol.CONTENT_TYPE_JSON, WANTED)
    assert (rows.names, rows.count) == (["a", "b"], 2)
    frame = rows.to_frame()
    assert frame.shape == (2, 2)
    assert frame["a"].tolist() == [1.5, 2.0]
    assert frame["b"].iloc[0] == "x"
    assert pd.isna(frame["b"].iloc[1])


def test_inputs_as_one_row_of_scalars() -> None:
    rows = protocol.parse_body(_json({"inputs": {"a": 1.5, "b": "x"}}), "application/json", WANTED)
    assert rows.to_frame().to_dict("records") == [{"a": 1.5, "b": "x"}]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty request body"),
        (b"{not json", "malformed JSON"),
        (b"\xff\xfe", "malformed JSON"),
        (b"[1, 2]", "must be an object"),
        (b'"SECRET"', "must be an object"),
        (_json({"SECRET": 1}), "exactly one of"),
        (_json({"dataframe_split": {"data": []}, "instances": []}), "(found 2)"),
        (_json({"dataframe_split": [[1]]}), "'data' and 'columns'"),
        (_json({"dataframe_split": {"data": [1, 2]}}), "list of rows"),
        (_json({"dataframe_split": {"data": [[1]], "SECRET": 1}}), "unknown fields"),
        (_json({"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}), "must have 1 values"),
        (_json({"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}), "duplicate"),
        (_json({"dataframe_records": {"a": 1}}), "list of records"),
        (_json({"dataframe_records": [1, 2]}), "objects keyed by column name"),
        (_json({"instances": [[1, 2]]}), "objects keyed by column name"),
        (_json({"inputs": {"a": [1, 2], "b": [1]}}), "different lengths"),
        (_json({"inputs": {"a": [1], "b": 2}}), "must be a list"),
        (_json({"inputs": "SECRET"}), "list of records or an object"),
    ],
)
def test_malformed_json_is_400_with_a_short_message(body: bytes, fragment: str) -> None:
    with pytest.raises(RequestError) as caught:
        protocol.parse_body(body, protocol.CONTENT_TYPE_JSON, WANTED)
    assert caught.value.status == 400
    message = str(caught.value)
    assert fragment in message
    assert "SECRET" not in message  # the payload is never echoed
    assert len(message) < 200


# --------------------------------------------------------------------------- CSV and Parquet


def test_csv_keeps_signature_string_columns_as_text() -> None:
    body = b"code,size\n01,1.5\n,2\n"
    rows = protocol.parse_body(body, protocol.CONTENT_TYPE_CSV, (), string_columns=("code",))
    frame = rows.to_frame()
    assert rows.names == ["code", "size"]
    assert frame["code"].iloc[0] == "01"
    assert pd.isna(frame["code"].iloc[1])
    assert frame["size"].tolist() == [1.5, 2.0]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [(b"\xff\xfe,1", "not valid UTF-8"), (b'a,b\n1,"x\n', "malformed CSV")],
)
def test_malformed_csv_is_400(body: bytes, fragment: str) -> None:
    with pytest.raises(RequestError, match=fragment) as caught:
        protocol.parse_body(body, protocol.CONTENT_TYPE_CSV, ())
    assert caught.value.status == 400


def test_parquet_bodies_are_read_and_garbage_is_400() -> None:
    buffer = io.BytesIO()
    pd.DataFrame(ROWS).to_parquet(buffer)
    rows = protocol.parse_body(buffer.getvalue(), protocol.CONTENT_TYPE_PARQUET, ())
    assert rows.to_frame()["a"].tolist() == [1.5, 2.0]
    with pytest.raises(RequestError, match="malformed Parquet"):
        protocol.parse_body(b"PAR1 nope", protocol.CONTENT_TYPE_PARQUET, ())


# --------------------------------------------------------------------------- responses


def test_predictions_are_encoded_byte_for_byte_as_mlflow_does() -> None:
    labels = np.array(["Adelie", "Gentoo"], dtype=object)
    assert protocol.encode_predictions(labels) == b'{"predictions": ["Adelie", "Gentoo"]}'
    values = np.array([1.5, 2.0])
    assert protocol.encode_predictions(values) == b'{"predictions": [1.5, 2.0]}'


def test_errors_use_mlflows_shape() -> None:
    body = json.loads(protocol.error_body(400, "bad rows"))
    assert body == {"error_code": "BAD_REQUEST", "message": "bad rows"}
    assert json.loads(protocol.error_body(503, "x"))["error_code"] == "TEMPORARILY_UNAVAILABLE"


# --------------------------------------------------------------------------- metrics


def _sample(text: str, metric: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    series = f"{metric}{{{wanted}}}" if wanted else metric
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert found, f"{series} not in metrics"
    return float(found.group(1))


def test_metrics_count_requests_rows_and_classes() -> None:
    metrics = Metrics()
    metrics.observe("/invocations", 200, 0.004)
    metrics.observe("/invocations", 200, 0.2)
    metrics.observe("/invocations", 400, 0.001)
    metrics.scored(np.array(["a", "b", "a"], dtype=object), rows_with_missing=1, classifier=True)
    metrics.model_loaded("m", "1", "champion", "r1")
    metrics.model_loaded("m", "2", "champion", "r2")
    text = metrics.render()[0].decode()
    assert _sample(text, "mlops_requests_total", route="/invocations", status="200") == 2
    assert _sample(text, "mlops_requests_total", route="/invocations", status="400") == 1
    assert _sample(text, "mlops_request_duration_seconds_count", route="/invocations") == 3
    assert (
        _sample(text, "mlops_request_duration_seconds_bucket", le="0.005", route="/invocations")
        == 2
    )
    assert _sample(text, "mlops_rows_scored_total") == 3
    assert _sample(text, "mlops_input_rows_with_missing_total") == 1
    assert _sample(text, "mlops_predictions_total", label="a") == 2
    assert _sample(text, "mlops_model_ready") == 1
    info = {"name": "m", "alias": "champion"}
    assert _sample(text, "mlops_model_info", **info, run_id="r2", version="2") == 1
    assert _sample(text, "mlops_model_info", **info, run_id="r1", version="1") == 0
    assert _sample(text, "mlops_model_loads_total", result="success") == 2


def test_class_labels_are_bounded() -> None:
    metrics = Metrics()
    labels = np.array([f"class-{i}" for i in range(MAX_CLASS_LABELS + 10)], dtype=object)
    metrics.scored(labels, rows_with_missing=0, classifier=True)
    text = metrics.render()[0].decode()
    assert text.count("mlops_predictions_total{") == MAX_CLASS_LABELS + 1
    assert _sample(text, "mlops_predictions_total", label="other") == 10


def test_regression_values_fill_the_histogram_in_bulk() -> None:
    metrics = Metrics()
    values = np.array([-5.0, 0.5, 0.5, 50.0, float("nan")])
    metrics.scored(values, rows_with_missing=0, classifier=False)
    text = metrics.render()[0].decode()
    assert _sample(text, "mlops_prediction_value_count") == 4  # NaN is not a value
    assert _sample(text, "mlops_prediction_value_bucket", le="1.0") == 3
    assert _sample(text, "mlops_prediction_value_bucket", le="100.0") == 4
    assert _sample(text, "mlops_prediction_value_bucket", le="-1.0") == 1


# --------------------------------------------------------------------------- limits

LIMITS = protocol.Limits(max_rows=2, max_columns=2)
THREE_ROWS = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
THREE_COLUMNS = pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0]})


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


LIMIT_CASES = {
    "split rows": (_json({"dataframe_split": {"columns": ["a"], "data": [[1], [2], [3]]}}), 1),
    "split columns": (_json({"dataframe_split": {"columns": ["a", "b", "c"], "data": []}}), 2),
    "split columns unnamed": (_json({"dataframe_split": {"data": [[1, 2, 3]]}}), 2),
    "records rows": (_json({"dataframe_records": [{"a": 1}] * 3}), 1),
    "records columns": (_json({"dataframe_records": [{"a": 1, "b": 2}, {"c": 3}]}), 2),
    "inputs columns": (_json({"inputs": {"a": [1], "b": [2], "c": [3]}}), 2),
    "inputs rows": (_json({"inputs": {"a": [1, 2, 3]}}), 1),
    "csv rows": (b"a\n1\n2\n3", 1),
    "csv rows trailing newline": (b"a\n1\n2\n3\n", 1),
    "csv rows carriage returns": (b"a\r1\r2\r3\r", 1),
    "csv rows crlf": (b"a\r\n1\r\n2\r\n3", 1),
    "csv columns": (b"a,b,c\n1,2,3\n", 2),
    "parquet rows": (_parquet_bytes(THREE_ROWS), 1),
    "parquet columns": (_parquet_bytes(THREE_COLUMNS), 2),
}


@pytest.mark.parametrize("case", list(LIMIT_CASES))
def test_rows_and_columns_beyond_the_limits_are_413(case: str) -> None:
    body, _ = LIMIT_CASES[case]
    mime = "text/csv" if case.startswith("csv") else "application/json"
    mime = protocol.CONTENT_TYPE_PARQUET if case.startswith("parquet") else mime
    with pytest.raises(RequestError) as caught:
        protocol.parse_body(body, mime, ("a", "b", "c"), limits=LIMITS)
    assert caught.value.status == 413
    assert ("3 rows" if "rows" in case else "3 columns") in str(caught.value)


def test_bodies_at_the_limits_parse() -> None:
    assert protocol.parse_body(b"a,b\n1,2\n3,4\n", "text/csv", ("a",), limits=LIMITS).count == 2
    assert (
        protocol.parse_body(b"a,b\r\n1,2\r\n3,4\r\n", "text/csv", ("a",), limits=LIMITS).count == 2
    )
    body = _parquet_bytes(pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}))
    assert (
        protocol.parse_body(body, protocol.CONTENT_TYPE_PARQUET, ("a",), limits=LIMITS).count == 2
    )


@pytest.mark.parametrize("depth", [1100, 100_000])
def test_json_nested_past_the_depth_limit_is_400(depth: int) -> None:
    for body in (
        b"[" * depth + b"]" * depth,
        b'{"inputs": [NaN, ' + b"[" * depth + b"]" * depth + b"]}",
    ):
        with pytest.raises(RequestError) as caught:
            protocol.parse_body(body, "application/json", WANTED)
        assert caught.value.status == 400
        assert "nested" in str(caught.value)
