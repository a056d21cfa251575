"""Column-at-a-time access to a CSV or Parquet file, so memory stays bounded by one column.

Parquet is read one column (or one batch of rows) at a time straight from the file. CSV has no
column index, so it is parsed once into Arrow's compact columnar form.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops.errors import DataError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from mlops.artifacts import CsvDialect

SUFFIXES = (".csv", ".parquet", ".pq")
Kind = Literal["numeric", "categorical", "datetime", "other", "empty"]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def type_kind(dtype: pa.DataType) -> Kind:
    """How a column is compared: numbers, categories, or not at all."""
    import pyarrow.types as pt

    if pt.is_dictionary(dtype):
        return type_kind(dtype.value_type)
    if pt.is_null(dtype):
        return "empty"
    if pt.is_boolean(dtype) or pt.is_string(dtype) or pt.is_large_string(dtype):
        return "categorical"
    if pt.is_integer(dtype) or pt.is_floating(dtype) or pt.is_decimal(dtype):
        return "numeric"
    if pt.is_temporal(dtype):
        return "datetime"
    return "other"


@dataclass
class TableSource:
    """One side of the comparison: its path, row count, column types and a column reader."""

    path: Path
    rows: int
    types: dict[str, pa.DataType]
    _table: pa.Table | None = field(default=None, repr=False)
    #: One open Parquet reader per thread: re-opening the file per column re-parsed its footer,
    #: whose size grows with the column count (quadratic: 10k columns took 15 minutes).
    _readers: threading.local = field(default_factory=threading.local, repr=False)

    @property
    def format(self) -> str:
        return "csv" if self._table is not None else "parquet"

    def column(self, name: str) -> pa.ChunkedArray:
        """Read one column (Parquet: from the file; CSV: from the parsed table)."""
        if self._table is not None:
            return self._table.column(name)
        import pyarrow.parquet as pq

        try:
            reader = getattr(self._readers, "file", None)
            if reader is None:
                reader = self._readers.file = pq.ParquetFile(self.path, memory_map=True)
            return reader.read(columns=[name], use_threads=False).column(0)
        except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
            raise DataError(
                f"{self.path}: cannot read column {name!r} ({_first_line(exc)})"
            ) from exc

    def frames(self, columns: list[str], batch_rows: int = 100_000) -> Iterator[pd.DataFrame]:
        """The given columns as pandas frames of at most `batch_rows` rows (for scoring)."""
        if self._table is not None:
            for batch in self._table.select(columns).to_batches(max_chunksize=batch_rows):
                yield batch.to_pandas()
            return
        import pyarrow.parquet as pq

        handle = pq.ParquetFile(self.path, memory_map=True)
        for batch in handle.iter_batches(batch_size=batch_rows, columns=columns):
            yield batch.to_pandas()


def open_table(path: Path, suffix: str | None = None) -> TableSource:
    """Open a CSV or Parquet file for column-wise reading, with one-line errors for bad files.

    `suffix` names the format of a file whose name has none (a DVC cache object).
    """
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a .csv or .parquet file")
    suffix = (suffix or path.suffix).lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{path}: unsupported file type {suffix!r}, expected .csv or .parquet")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    return _open_csv(path) if suffix == ".csv" else _open_parquet(path)


def _column_types(path: Path, schema: pa.Schema, skip: set[str]) -> dict[str, pa.DataType]:
    from collections import Counter

    names = [name for name in schema.names if name not in skip]
    duplicates = sorted(n for n, count in Counter(names).items() if count > 1)
    if duplicates:
        raise DataError(f"{path}: duplicate column names: {', '.join(duplicates)}")
    if not names:
        raise DataError(f"{path}: no columns found")
    return {f.name: f.type for f in schema if f.name not in skip}


def _open_parquet(path: Path) -> TableSource:
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
        schema = handle.schema_arrow
        rows = handle.metadata.num_rows
    except Exception as exc:
        raise DataError(f"{path}: cannot read parquet file ({_first_line(exc)})") from exc
    types = _column_types(path, schema, _pandas_index_columns(schema))
    return TableSource(path=path, rows=int(rows), types=types)


def _pandas_index_columns(schema: pa.Schema) -> set[str]:
    """Columns pandas stored only to rebuild its index (`__index_level_0__`): not data."""
    import json

    meta = schema.metadata or {}
    raw = meta.get(b"pandas")
    if raw is None:
        return set()
    try:
        indexes: list[Any] = json.loads(raw).get("index_columns", [])
    except ValueError:
        return set()
    return {name for name in indexes if isinstance(name, str)}


def _open_csv(path: Path) -> TableSource:
    """Parse a CSV whose separator and decimal mark are sniffed as ingest sniffs them."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    from mlops.artifacts import check_csv_text, check_single_column

    dialect = check_csv_text(path)
    # Quoted newlines inside values, as pandas (ingest) reads them: one reading of CSV.
    parse = pcsv.ParseOptions(delimiter=dialect.sep, newlines_in_values=True)
    try:
        # Empty fields and NA markers are missing in text columns too, as pandas reads them.
        table = pcsv.read_csv(path, parse_options=parse, convert_options=_convert(dialect))
        # Ingest (pandas) keeps dates as text: read them as text here too, or the same column
        # of the same kind of file is a type change (date32 vs string) and counts as drift.
        dates = {f.name: pa.string() for f in table.schema if pa.types.is_temporal(f.type)}
        if dates:
            table = pcsv.read_csv(
                path, parse_options=parse, convert_options=_convert(dialect, dates)
            )
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except Exception as exc:  # pyarrow.lib.ArrowInvalid and friends
        raise DataError(f"{path}: cannot parse CSV ({_first_line(exc)})") from exc
    check_single_column(path, list(table.schema.names), dialect, None)
    types = _column_types(path, table.schema, set())
    return TableSource(path=path, rows=table.num_rows, types=types, _table=table)


def _convert(dialect: CsvDialect, types: dict[str, pa.DataType] | None = None) -> Any:
    """How CSV text becomes values: the sniffed decimal mark, empty fields missing in every
    column, `types` forced where given."""
    import pyarrow.csv as pcsv

    return pcsv.ConvertOptions(
        decimal_point=dialect.decimal, strings_can_be_null=True, column_types=types or {}
    )
