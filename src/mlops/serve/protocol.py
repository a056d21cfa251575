"""MLflow's scoring protocol: request bodies -> a DataFrame, predictions -> the response body.

Mirrors `mlflow/pyfunc/scoring_server`: the same content types, the same four JSON keys
(`dataframe_split`, `dataframe_records`, `instances`, `inputs`, plus an ignored `params`) and the
same `{"predictions": [...]}` bytes, so existing clients work unchanged. Errors carry an HTTP
status and a short message that never echoes the payload.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_CSV = "text/csv"
CONTENT_TYPE_PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = (CONTENT_TYPE_JSON, CONTENT_TYPE_CSV, CONTENT_TYPE_PARQUET)

DF_SPLIT = "dataframe_split"
DF_RECORDS = "dataframe_records"
INSTANCES = "instances"
INPUTS = "inputs"
FORMATS = (DF_SPLIT, DF_RECORDS, INSTANCES, INPUTS)
PARAMS = "params"

#: MLflow's error codes, by the HTTP status they map to.
ERROR_CODES = {
    400: "BAD_REQUEST",
    404: "ENDPOINT_NOT_FOUND",
    405: "BAD_REQUEST",
    413: "BAD_REQUEST",
    415: "BAD_REQUEST",
    500: "INTERNAL_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
}


class RequestError(DataError):
    """A request the server refuses, with the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def bad_request(message: str) -> RequestError:
    return RequestError(400, message)


def error_body(status: int, message: str) -> bytes:
    """MLflow's error shape: `{"error_code": ..., "message": ...}`."""
    code = ERROR_CODES.get(status, "BAD_REQUEST")
    return json.dumps({"error_code": code, "message": message}).encode()


def media_type(header: str | None) -> str:
    """The media type of a Content-Type header; 415 unless it is one the protocol speaks."""
    if not header:
        raise RequestError(415, f"missing Content-Type; use one of: {', '.join(CONTENT_TYPES)}")
    mime, *parameters = (part.strip() for part in header.split(";"))
    mime = mime.lower()
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        if key.strip().lower() != "charset":
            raise RequestError(415, f"unsupported Content-Type parameter {key.strip()[:40]!r}")
        if value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise RequestError(415, "only the utf-8 charset is supported")
    if mime not in CONTENT_TYPES:
        raise RequestError(
            415, f"unsupported Content-Type {mime[:60]!r}; use one of: {', '.join(CONTENT_TYPES)}"
        )
    return mime


@dataclass(frozen=True)
class Rows:
    """Request rows before validation: JSON as plain column values, CSV/Parquet as a DataFrame."""

    names: list[str]
    count: int
    values: dict[str, list[Any]] | None = None
    frame: pd.DataFrame | None = None

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return self.frame if self.frame is not None else pd.DataFrame(self.values)


def parse_body(
    body: bytes, mime: str, wanted: tuple[str, ...], string_columns: tuple[str, ...] = ()
) -> Rows:
    """A request body in one of the protocol's formats; for JSON only `wanted` columns' values."""
    if not body:
        raise bad_request("empty request body")
    if mime == CONTENT_TYPE_JSON:
        return parse_json(body, wanted)
    frame = parse_csv(body, string_columns) if mime == CONTENT_TYPE_CSV else parse_parquet(body)
    return Rows([str(name) for name in frame.columns], len(frame), frame=frame)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:120]


def _loads(body: bytes) -> Any:
    import orjson

    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # NaN/Infinity tokens or huge integers: what Python's json (and MLflow) accept
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"malformed JSON ({_short(exc)})") from exc


def parse_json(body: bytes, wanted: tuple[str, ...]) -> Rows:
    """MLflow's JSON formats; exactly one of the four keys (`params` is accepted and ignored)."""
    payload = _loads(body)
    if not isinstance(payload, dict):
        raise bad_request(
            f"the JSON body must be an object with exactly one of: {', '.join(FORMATS)}"
        )
    keys = [key for key in payload if key != PARAMS]
    if len(keys) != 1 or keys[0] not in FORMATS:
        found = sum(key in FORMATS for key in keys)
        raise bad_request(
            f"the JSON body must have exactly one of: {', '.join(FORMATS)} (found {found})"
        )
    key = keys[0]
    data = payload[key]
    if key == DF_SPLIT:
        return _from_split(data, wanted)
    if key == DF_RECORDS:
        if not isinstance(data, list):
            raise bad_request(f"{DF_RECORDS} must be a list of records")
        return _from_records(data, wanted, key)
    return _from_tensor_input(data, wanted, key)


def _from_split(data: Any, wanted: tuple[str, ...]) -> Rows:
    if not isinstance(data, dict) or "data" not in data:
        raise bad_request(f"{DF_SPLIT} must be an object with 'data' and 'columns'")
    if set(data) - {"columns", "data", "index"}:
        raise bad_request(f"{DF_SPLIT} has unknown fields (allowed: columns, data, index)")
    rows, columns = data["data"], data.get("columns")
    if not isinstance(rows, list) or not set(map(type, rows)) <= {list}:
        raise bad_request(f"{DF_SPLIT}.data must be a list of rows (lists)")
    if columns is None:
        columns = list(range(len(rows[0]))) if rows else []
    if not isinstance(columns, list):
        raise bad_request(f"{DF_SPLIT}.columns must be a list of names")
    names = [str(name) for name in columns]
    if len(set(names)) != len(names):
        raise bad_request(f"{DF_SPLIT}.columns has duplicate names")
    width = len(names)
    if not set(map(len, rows)) <= {width}:
        raise bad_request(f"{DF_SPLIT}: every row must have {width} values, one per column")
    position = {name: index for index, name in enumerate(names)}
    by_column = list(zip(*rows, strict=True)) if rows else [()] * width  # one C-level pass
    values = {name: list(by_column[position[name]]) for name in wanted if name in position}
    return Rows(names, len(rows), values=values)


def _from_records(data: list[Any], wanted: tuple[str, ...], what: str) -> Rows:
    if any(type(row) is not dict for row in data):
        raise bad_request(f"{what} must be a list of objects keyed by column name")
    names = list(dict.fromkeys(itertools.chain.from_iterable(data)))
    present = set(names)
    values = {name: [row.get(name) for row in data] for name in wanted if name in present}
    return Rows(names, len(data), values=values)


def _from_tensor_input(data: Any, wanted: tuple[str, ...], key: str) -> Rows:
    """`instances` / `inputs`: a list of records, or columns as an object of lists (or scalars)."""
    if isinstance(data, list):
        return _from_records(data, wanted, key)
    if not isinstance(data, dict):
        raise bad_request(f"{key} must be a list of records or an object of columns")
    columns = list(data.values())
    if columns and all(not isinstance(v, list | dict) for v in columns):
        data = {name: [value] for name, value in data.items()}  # one row given as scalars
    elif any(not isinstance(v, list) for v in columns):
        raise bad_request(f"{key}: every column must be a list of values")
    lengths = {len(v) for v in data.values()}
    if len(lengths) > 1:
        raise bad_request(f"{key}: the columns have different lengths")
    values = {name: data[name] for name in wanted if name in data}
    return Rows(list(data), lengths.pop() if lengths else 0, values=values)


def parse_csv(body: bytes, string_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """CSV with a header row; signature string columns stay text ("01" is not 1)."""
    import io

    import pandas as pd

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request("the CSV body is not valid UTF-8") from exc
    try:
        return pd.read_csv(io.StringIO(text), dtype=dict.fromkeys(string_columns, object))
    except (ValueError, pd.errors.ParserError) as exc:
        raise bad_request(f"malformed CSV ({_short(exc)})") from exc


def parse_parquet(body: bytes) -> pd.DataFrame:
    import io

    import pandas as pd

    try:
        return pd.read_parquet(io.BytesIO(body))
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt input
        raise bad_request(f"malformed Parquet ({_short(exc)})") from exc


def encode_predictions(predictions: np.ndarray) -> bytes:
    """`{"predictions": [...]}` byte for byte as MLflow writes it (`json.dump` defaults)."""
    return json.dumps({"predictions": predictions.tolist()}).encode()
