"""Tables: CSV (dialect sniffed, text checked) and Parquet, read with one-line errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.artifacts._atomic import atomic_path
from mlops.artifacts._table_checks import (
    check_flat,
    check_huge_integers,
    check_short_rows,
    decimals_as_floats,
    index_as_columns,
    longer_rows,
)
from mlops.errors import DataError, first_line

if TYPE_CHECKING:
    import pandas as pd

    from mlops.config import CsvParams

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")

#: Field separators a CSV file is sniffed for, most common first (the tie-breaker).
CSV_SEPARATORS = (",", ";", "\t", "|")
#: How much of a CSV file's text the dialect is sniffed from.
SNIFF_CHARS = 64 * 1024
_SEP_NAMES = {",": "comma", ";": "';'", "\t": "tab", "|": "'|'"}


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file is read: what the user set (`data.csv`), the rest sniffed from the file."""

    sep: str = ","
    decimal: str = "."
    encoding: str = "utf-8-sig"
    na_values: tuple[str, ...] = ()
    thousands: str | None = None
    #: Which of sep/decimal were sniffed rather than set (for messages).
    sniffed: tuple[str, ...] = ()

    def describe(self) -> str:
        sep = _SEP_NAMES.get(self.sep, repr(self.sep))
        text = f"{sep}-separated"
        if self.decimal != ".":
            text += f", decimal {self.decimal!r}"
        return text


def _codec(encoding: str | None, setting: str | None) -> str:
    """The codec name to decode with; UTF-8 skips a byte-order mark (not part of a name)."""
    import codecs

    if encoding is None:
        return "utf-8-sig"
    try:
        name = codecs.lookup(encoding).name
    except LookupError as exc:
        key = f"{setting}.encoding" if setting else "encoding"
        raise DataError(f"{key}: unknown text encoding {encoding!r}") from exc
    return "utf-8-sig" if name == "utf-8" else name


def _records(text: str, sep: str, limit: int = 200) -> list[list[str]]:
    import csv
    import io
    import itertools

    try:
        rows = list(itertools.islice(csv.reader(io.StringIO(text), delimiter=sep), limit))
    except csv.Error:
        return []
    return [row for row in rows if any(field.strip() for field in row)]


def sniff_separator(text: str) -> str | None:
    """The separator whose field count is most consistent across the sample's records (the
    header must split into at least two fields); None when none splits the header."""
    best: tuple[float, int] | None = None
    chosen = None
    for sep in CSV_SEPARATORS:
        records = _records(text, sep)
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        body = records[1:]
        consistent = sum(len(r) == width for r in body) / len(body) if body else 1.0
        score = (consistent, width)
        if best is None or score > best:
            best, chosen = score, sep
    return chosen


_COMMA_NUMBER = re.compile(r"^[+-]?\d+,\d+(?:[eE][+-]?\d+)?$")
_DOT_NUMBER = re.compile(r"^[+-]?\d*\.\d+(?:[eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")


def sniff_decimal(text: str, sep: str) -> str:
    """`,` when some column holds only numbers like `1,5` and none holds numbers like `1.5`."""
    if sep == ",":
        return "."
    records = _records(text, sep)
    if len(records) < 2:
        return "."
    width = len(records[0])
    rows = [r for r in records[1:] if len(r) == width]
    comma = dot = False
    for i in range(width):
        values = [r[i].strip() for r in rows if r[i].strip()]
        if not values or not all(
            _INTEGER.match(v) or _COMMA_NUMBER.match(v) or _DOT_NUMBER.match(v) for v in values
        ):
            continue
        comma |= any(_COMMA_NUMBER.match(v) for v in values)
        dot |= any(_DOT_NUMBER.match(v) for v in values)
    return "," if comma and not dot else "."


def _dialect(sample: str, options: CsvParams | None, encoding: str) -> CsvDialect:
    sniffed: list[str] = []
    sep = options.sep if options is not None else None
    if sep is None:
        sep = sniff_separator(sample) or ","
        sniffed.append("sep")
    decimal = options.decimal if options is not None else None
    if decimal is None:
        decimal = sniff_decimal(sample, sep)
        sniffed.append("decimal")
    na_values = tuple(options.na_values) if options is not None else ()
    thousands = options.thousands if options is not None else None
    if thousands is not None and "decimal" in sniffed and decimal == thousands:
        decimal = "," if thousands == "." else "."
    return CsvDialect(sep, decimal, encoding, na_values, thousands, tuple(sniffed))


def check_single_column(
    path: Path, names: list[str], dialect: CsvDialect, setting: str | None
) -> None:
    """A file read as ONE column whose name holds another separator was split wrongly."""
    if len(names) != 1:
        return
    name = names[0]
    found = [sep for sep in CSV_SEPARATORS if sep != dialect.sep and sep in name]
    if not found:
        return
    sep = found[0]
    shown = '"\\t"' if sep == "\t" else f'"{sep}"'  # as YAML writes it
    how = f"set {setting}.sep: {shown}" if setting else "check the file's separator"
    raise DataError(
        f"{path}: read as a single column {name!r}, which contains {_SEP_NAMES[sep]}: the file "
        f"looks {_SEP_NAMES[sep]}-separated, not {dialect.describe()} ({how})"
    )


def read_table(
    path: Path, csv: CsvParams | None = None, *, setting: str | None = None
) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame, with one-line errors for bad files.

    A CSV's separator and decimal mark are sniffed unless `csv` sets them; `setting` names the
    config key those options come from (`data.csv`), so errors can say what to change.
    """
    import pandas as pd

    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a .csv or .parquet file")
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{path}: unsupported file type {suffix!r}, expected .csv or .parquet")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    if suffix != ".csv":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
            raise DataError(f"{path}: cannot read {suffix[1:]} file ({first_line(exc)})") from exc
        check_flat(path, table.schema)
        table = decimals_as_floats(table)
        try:
            frame = table.to_pandas()
        except Exception as exc:
            raise DataError(f"{path}: cannot read {suffix[1:]} file ({first_line(exc)})") from exc
        return _checked(path, index_as_columns(path, frame))
    dialect = check_csv_text(path, options=csv, setting=setting)
    import warnings

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            # index_col=False: never take the first column for an index. With a stray separator
            # at the end of every data row (not the header), pandas otherwise makes column 1 the
            # index and slides every column left; with it, empty trailing fields are ignored.
            frame = pd.read_csv(
                path,
                sep=dialect.sep,
                decimal=dialect.decimal,
                encoding=dialect.encoding,
                na_values=list(dialect.na_values) or None,
                thousands=dialect.thousands,
                index_col=False,
            )
        if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
            check_single_column(path, [str(c) for c in frame.columns], dialect, setting)
            raise DataError(longer_rows(path, dialect))
    except DataError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: file is empty") from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: cannot parse CSV ({first_line(exc)})") from exc
    except UnicodeDecodeError as exc:
        raise DataError(_not_text(path, dialect.encoding, exc, setting)) from exc
    except Exception as exc:
        raise DataError(f"{path}: cannot read csv file ({first_line(exc)})") from exc
    check_single_column(path, [str(c) for c in frame.columns], dialect, setting)
    check_short_rows(path, frame, dialect)
    check_huge_integers(path, frame)
    return _checked(path, frame)


def _checked(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    if frame.columns.size == 0:
        raise DataError(f"{path}: no columns found")
    if len(frame) == 0:
        raise DataError(f"{path}: no data rows (header only)")
    return frame


def _not_text(
    path: Path, encoding: str, exc: UnicodeDecodeError, setting: str | None, offset: int = 0
) -> str:
    name = "UTF-8" if encoding.startswith("utf-8") else encoding
    hint = ""
    if setting and name == "UTF-8":
        hint = f"; set {setting}.encoding if it is another encoding (e.g. latin-1)"
    return f"{path}: not {name} text ({exc.reason} at byte {offset + exc.start}){hint}"


def check_csv_text(
    path: Path,
    chunk: int = 1 << 20,
    limit: int | None = None,
    *,
    options: CsvParams | None = None,
    setting: str | None = None,
) -> CsvDialect:
    """Reject what CSV parsers paper over: NUL bytes, text that does not decode, duplicate
    column names. Return the dialect to read the file with (sniffed where `options` is silent).

    `limit` stops after that many bytes (streaming readers check the rest as they go).
    """
    import codecs
    import csv

    encoding = _codec(options.encoding if options is not None else None, setting)
    wide = encoding.startswith(("utf-16", "utf-32"))  # NUL bytes are part of their text
    decoder = codecs.getincrementaldecoder(encoding)()
    sample = ""
    offset = 0
    complete = True
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            if not wide and b"\x00" in block:
                raise DataError(
                    f"{path}: binary data (NUL byte at {offset + block.index(0)}), expected CSV text"
                )
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError as exc:
                raise DataError(_not_text(path, encoding, exc, setting, offset)) from exc
            if len(sample) < SNIFF_CHARS:
                sample += text
            offset += len(block)
            if limit is not None and offset >= limit:
                complete = False
                break
    try:
        if complete:
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        label = "UTF-8" if encoding.startswith("utf-8") else encoding
        raise DataError(f"{path}: not {label} text (truncated character at the end)") from exc
    if len(sample) > SNIFF_CHARS:
        sample = sample[:SNIFF_CHARS]
        complete = False
    if not complete and "\n" in sample:  # sniff whole lines only
        sample = sample[: sample.rindex("\n") + 1]
    dialect = _dialect(sample, options, encoding)
    first = sample.splitlines()[0] if sample.strip() else ""
    seen: set[str] = set()
    for name in next(csv.reader([first], delimiter=dialect.sep), []):
        if name in seen:
            raise DataError(f"{path}: duplicate column name {name!r} in the header")
        seen.add(name)
    return dialect


def write_table(target: Path, frame: pd.DataFrame) -> Path:
    """Write a DataFrame as Parquet or CSV (by suffix), atomically."""
    suffix = target.suffix.lower()
    with atomic_path(target) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        elif suffix in (".parquet", ".pq"):
            frame.to_parquet(tmp, index=False)
        else:
            raise DataError(f"{target}: unsupported output type {suffix!r}, use .csv or .parquet")
    return target
