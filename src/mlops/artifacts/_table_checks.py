"""What a table reader checks once a file is read: nested Parquet columns, integers beyond 64
bits, decimals, a stored pandas index, CSV rows longer or shorter than their header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from mlops.artifacts._tables import CsvDialect


def index_as_columns(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """A named pandas index stored in the file (`df.set_index("id").to_parquet()`) is data:
    read it back as a column (it was silently dropped before), and say so."""
    names = [name for name in frame.index.names if name is not None]
    if not names:
        return frame
    import logging

    logging.getLogger(__name__).warning(
        "%s: column(s) %s were stored as the pandas index; read as column(s)",
        path,
        ", ".join(repr(str(n)) for n in names),
    )
    return frame.reset_index()


def decimals_as_floats(table: Any) -> Any:
    """Parquet decimal columns come to pandas as Python `Decimal` objects, which the schema took
    for a categorical (and training then failed): read them as float64, like a CSV's numbers."""
    import pyarrow as pa
    import pyarrow.types as pat

    if not any(pat.is_decimal(f.type) for f in table.schema):
        return table
    fields = [
        pa.field(f.name, pa.float64(), f.nullable, f.metadata) if pat.is_decimal(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def check_flat(path: Path, schema: Any) -> None:
    """Refuse nested Parquet columns (struct, list, map): a model reads one value per cell."""
    import pyarrow.types as pat

    def nested(kind: Any) -> bool:
        if pat.is_dictionary(kind):
            return nested(kind.value_type)
        return bool(
            pat.is_struct(kind)
            or pat.is_list(kind)
            or pat.is_large_list(kind)
            or pat.is_fixed_size_list(kind)
            or pat.is_map(kind)
            or pat.is_union(kind)
            or getattr(pat, "is_list_view", lambda _: False)(kind)
            or getattr(pat, "is_large_list_view", lambda _: False)(kind)
        )

    found = [f"{field.name} ({field.type})" for field in schema if nested(field.type)]
    if found:
        shown = ", ".join(found[:5]) + (f" (+{len(found) - 5} more)" if len(found) > 5 else "")
        raise DataError(
            f"{path}: nested columns {shown}: expected one value per cell (flatten structs, "
            "lists and maps into columns first)"
        )


def check_huge_integers(path: Path, frame: pd.DataFrame) -> None:
    """pandas keeps integers beyond 64 bits as Python objects, which Parquet cannot store."""
    for name in frame.columns[[dtype == "object" for dtype in frame.dtypes]]:
        column = frame[name]
        present = column.dropna()
        if present.empty or not isinstance(present.iloc[0], int):
            continue
        big = present.map(lambda v: isinstance(v, int) and not -(2**63) <= v < 2**64)
        if bool(big.any()):
            row = int(big.to_numpy().argmax())
            line = int(present.index[row]) + 2
            raise DataError(
                f"{path}: column {name!r} holds integers beyond 64 bits (line {line}); "
                "expected integers within 64 bits (store identifiers like these as text, e.g. with a "
                "prefix, or scale the values)"
            )


def _csv_rows(path: Path, dialect: CsvDialect) -> Iterator[tuple[int, list[str]]]:
    """(line where the row starts, its fields), the header first, read as pandas reads them:
    fields of any length (the limit is raised once for the process, never lowered: another
    thread may be reading), quoted newlines inside one row."""
    import csv
    import sys

    if csv.field_size_limit() < sys.maxsize:
        csv.field_size_limit(sys.maxsize)
    try:
        with path.open(encoding=dialect.encoding, newline="") as handle:
            reader = csv.reader(handle, delimiter=dialect.sep)
            start = 1
            for row in reader:
                yield start, row
                start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{path}: cannot parse CSV ({exc})") from exc


def longer_rows(path: Path, dialect: CsvDialect) -> str:
    """The message for data rows with more (non-empty) fields than the header: names the first."""
    rows = _csv_rows(path, dialect)
    header = next(rows, (1, []))[1]
    for number, row in rows:
        while len(row) > len(header) and not row[-1].strip():
            row = row[:-1]
        if len(row) > len(header):
            return (
                f"{path}: line {number} has {len(row)} fields, the header has {len(header)} "
                "(a stray separator or an unquoted value?); refusing to drop data"
            )
    return (
        f"{path}: some rows have more fields than the header ({len(header)}); refusing to drop data"
    )


def check_short_rows(path: Path, frame: pd.DataFrame, dialect: CsvDialect) -> None:
    """Refuse data rows with fewer fields than the header (pandas fills them with missing values
    without a word), naming the first. `a,b,` under a 3-field header has 3 fields (the last one
    empty) and is kept; `a,b` has 2. The file is scanned only when its last column has missing
    values: a short row always leaves that one empty."""
    if frame.empty or not frame.iloc[:, -1].isna().any():
        return
    rows = _csv_rows(path, dialect)
    header = next(rows, (1, []))[1]
    while header and not header[-1].strip():  # `a,b,c,`: pandas' Unnamed column
        header = header[:-1]
    for number, row in rows:
        if row and len(row) < len(header):
            fields = f"{len(row)} field{'s' if len(row) != 1 else ''}"
            raise DataError(
                f"{path}: line {number} has {fields}, the header has {len(header)} (a "
                "missing separator or a cut-off row?); refusing to fill the rest with "
                "missing values"
            )
