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
    408: "BAD_REQUEST",
    413: "BAD_REQUEST",
    415: "BAD_REQUEST",
    500: "INTERNAL_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

#: Nesting orjson parses; deeper JSON is a 400 (no MLflow format needs more than four levels).
MAX_DEPTH = 1024


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
class Limits:
    """How much one request may hold (None: no limit); checked before the bulk of the work."""

    max_rows: int | None = None
    max_columns: int | None = None

    def check(self, rows: int | None = None, columns: int | None = None, what: str = "") -> None:
        """413 when `rows` or `columns` is over its limit."""
        if rows is not None and self.max_rows is not None and rows > self.max_rows:
            raise RequestError(
                413, f"the request holds {rows} rows{what}; the limit is {self.max_rows}"
            )
        if columns is not None and self.max_columns is not None and columns > self.max_columns:
            raise RequestError(
                413, f"the request holds {columns} columns; the limit is {self.max_columns}"
            )


NO_LIMITS = Limits()


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
    body: bytes,
    mime: str,
    wanted: tuple[str, ...],
    string_columns: tuple[str, ...] = (),
    limits: Limits = NO_LIMITS,
) -> Rows:
    """A request body in one of the protocol's formats; for JSON only `wanted` columns' values.

    `limits` are checked before the body is decoded where the format allows: Parquet from its
    footer, CSV from its header line and line count, JSON as soon as it is parsed.
    """
    if not body:
        raise bad_request("empty request body")
    if mime == CONTENT_TYPE_JSON:
        return parse_json(body, wanted, limits)
    if mime == CONTENT_TYPE_CSV:
        frame = parse_csv(body, string_columns, limits)
    else:
        frame = parse_parquet(body, limits)
    return Rows([str(name) for name in frame.columns], len(frame), frame=frame)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:120]


def too_deep() -> RequestError:
    return bad_request(f"the JSON body is nested more than {MAX_DEPTH} levels deep")


def _loads(body: bytes) -> Any:
    import orjson

    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):  # orjson stops at MAX_DEPTH levels, Python's json would
            raise too_deep() from None  # recurse until a RecursionError
        # else NaN/Infinity tokens or huge integers: what Python's json (and MLflow) accept
    try:
        return json.loads(body)
    except RecursionError:
        raise too_deep() from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"malformed JSON ({_short(exc)})") from exc


def parse_json(body: bytes, wanted: tuple[str, ...], limits: Limits = NO_LIMITS) -> Rows:
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
        return _from_split(data, wanted, limits)
    if key == DF_RECORDS:
        if not isinstance(data, list):
            raise bad_request(f"{DF_RECORDS} must be a list of records")
        return _from_records(data, wanted, key, limits)
    return _from_tensor_input(data, wanted, key, limits)


def _from_split(data: Any, wanted: tuple[str, ...], limits: Limits) -> Rows:
    if not isinstance(data, dict) or "data" not in data:
        raise bad_request(f"{DF_SPLIT} must be an object with 'data' and 'columns'")
    if set(data) - {"columns", "data", "index"}:
        raise bad_request(f"{DF_SPLIT} has unknown fields (allowed: columns, data, index)")
    rows, columns = data["data"], data.get("columns")
    if not isinstance(rows, list) or not set(map(type, rows)) <= {list}:
        raise bad_request(f"{DF_SPLIT}.data must be a list of rows (lists)")
    limits.check(rows=len(rows))
    if columns is None:
        limits.check(columns=len(rows[0]) if rows else 0)
        columns = list(range(len(rows[0]))) if rows else []
    if not isinstance(columns, list):
        raise bad_request(f"{DF_SPLIT}.columns must be a list of names")
    limits.check(columns=len(columns))
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


def _from_records(data: list[Any], wanted: tuple[str, ...], what: str, limits: Limits) -> Rows:
    limits.check(rows=len(data))
    if any(type(row) is not dict for row in data):
        raise bad_request(f"{what} must be a list of objects keyed by column name")
    names = list(dict.fromkeys(itertools.chain.from_iterable(data)))
    limits.check(columns=len(names))
    present = set(names)
    values = {name: [row.get(name) for row in data] for name in wanted if name in present}
    return Rows(names, len(data), values=values)


def _from_tensor_input(data: Any, wanted: tuple[str, ...], key: str, limits: Limits) -> Rows:
    """`instances` / `inputs`: a list of records, or columns as an object of lists (or scalars)."""
    if isinstance(data, list):
        return _from_records(data, wanted, key, limits)
    if not isinstance(data, dict):
        raise bad_request(f"{key} must be a list of records or an object of columns")
    limits.check(columns=len(data))
    columns = list(data.values())
    if columns and all(not isinstance(v, list | dict) for v in columns):
        data = {name: [value] for name, value in data.items()}  # one row given as scalars
    elif any(not isinstance(v, list) for v in columns):
        raise bad_request(f"{key}: every column must be a list of values")
    lengths = {len(v) for v in data.values()}
    if len(lengths) > 1:
        raise bad_request(f"{key}: the columns have different lengths")
    limits.check(rows=max(lengths, default=0))
    values = {name: data[name] for name in wanted if name in data}
    return Rows(list(data), lengths.pop() if lengths else 0, values=values)


def parse_csv(
    body: bytes, string_columns: tuple[str, ...] = (), limits: Limits = NO_LIMITS
) -> pd.DataFrame:
    """CSV with a header row; signature string columns stay text ("01" is not 1).

    The limits are checked first, on the raw bytes: the header line's fields (a comma inside
    a quoted name counts as a separator) and the lines after it (a newline inside a quoted
    value counts as a row).
    """
    import io

    import pandas as pd

    ends = [at for at in (body.find(b"\n"), body.find(b"\r")) if at >= 0]
    header = body[: min(ends)] if ends else body
    limits.check(columns=header.count(b",") + 1)
    breaks = max(body.count(b"\n"), body.count(b"\r"))  # \n, \r\n or a lone \r ends a line
    lines = breaks + (0 if body.endswith((b"\n", b"\r")) else 1)
    limits.check(rows=lines - 1, what=" (lines after the header)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request("the CSV body is not valid UTF-8") from exc
    try:
        return pd.read_csv(io.StringIO(text), dtype=dict.fromkeys(string_columns, object))
    except (ValueError, pd.errors.ParserError) as exc:
        raise bad_request(f"malformed CSV ({_short(exc)})") from exc


def parse_parquet(body: bytes, limits: Limits = NO_LIMITS) -> pd.DataFrame:
    """Parquet; the limits are checked on the footer's row and column counts before any data
    is decoded (a few kilobytes of Parquet can hold millions of rows)."""
    import io

    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(io.BytesIO(body))
        metadata = source.metadata
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt input
        raise bad_request(f"malformed Parquet ({_short(exc)})") from exc
    limits.check(rows=metadata.num_rows, columns=metadata.num_columns)
    try:
        frame: pd.DataFrame = source.read(use_pandas_metadata=True).to_pandas()
    except Exception as exc:
        raise bad_request(f"malformed Parquet ({_short(exc)})") from exc
    return frame


def encode_predictions(predictions: np.ndarray) -> bytes:
    """`{"predictions": [...]}` byte for byte as MLflow writes it (`json.dump` defaults)."""
    return json.dumps({"predictions": predictions.tolist()}).encode()
