"""Input files for batch scoring: CSV or Parquet read as bounded Arrow record batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from mlops import artifacts
from mlops.errors import DataError, first_line
from mlops.predict.schema import ColumnSpec, InputSchema

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.csv as pacsv


#: An integer as CSV writes it, without a leading zero (which marks a code, not a number).
INT_PATTERN = r"^-?(0|[1-9][0-9]*)$"


def check_suffix(path: Path, role: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in artifacts.TABLE_SUFFIXES:
        raise DataError(f"{path}: unsupported {role} type {suffix!r}, use .csv or .parquet")
    return suffix


def _arrow_type(spec: ColumnSpec) -> pa.DataType:
    import pyarrow as pa

    return {
        "double": pa.float64(),
        "float": pa.float32(),
        "long": pa.int64(),
        "integer": pa.int32(),
        "boolean": pa.bool_(),
        "string": pa.string(),
        "datetime": pa.timestamp("ns"),
        "binary": pa.binary(),
    }[spec.type]


def _number_kind(values: pa.Array, kind: str, decimal: str) -> str:
    """The narrowest of `kind` ("int", "float", "text") that every text value fits."""
    import re

    import pyarrow as pa
    import pyarrow.compute as pc

    if kind == "int" and pc.all(pc.match_substring_regex(values, INT_PATTERN)).as_py():
        try:
            pc.cast(values, pa.int64())
            return "int"
        except (pa.ArrowInvalid, OverflowError):  # past int64: a decimal still holds it
            pass
    if kind in ("int", "float"):
        mark = re.escape(decimal)
        pattern = rf"^-?(0|[1-9][0-9]*)({mark}[0-9]+)?([eE][-+]?[0-9]+)?$"
        if pc.all(pc.match_substring_regex(values, pattern)).as_py():
            return "float"
    return "text"


class TableSource:
    """A CSV or Parquet file read as a stream of record batches of at most `batch_size` rows."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise DataError(f"{path}: file not found")
        if path.is_dir():
            raise DataError(f"{path}: is a directory, expected a .csv or .parquet file")
        self.path = path
        self.suffix = check_suffix(path, "input")
        if path.stat().st_size == 0:
            raise DataError(f"{path}: file is empty")
        #: A CSV's separator and decimal mark, sniffed as ingest sniffs them.
        self.dialect = artifacts.CsvDialect()
        #: A Parquet file's column types (None for CSV, whose cells are text).
        self.arrow_schema: pa.Schema | None = None
        self.columns, self.total_rows = self._inspect()

    def _inspect(self) -> tuple[list[str], int | None]:
        if self.suffix == ".csv":
            # The header and the first MiB (the rest is checked as it streams).
            self.dialect = artifacts.check_csv_text(self.path, limit=1 << 20)
        columns, rows = self._read_header()
        if self.suffix == ".csv":
            artifacts.check_single_column(self.path, columns, self.dialect, None)
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise DataError(f"{self.path}: duplicate column names: {', '.join(duplicates)}")
        return columns, rows

    def _read_header(self) -> tuple[list[str], int | None]:
        try:
            if self.suffix == ".csv":
                import pyarrow.csv as pacsv

                reader = pacsv.open_csv(self.path, parse_options=self._parse_options())
                return list(reader.schema.names), None
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(self.path)
            self.arrow_schema = meta.schema_arrow
            return list(meta.schema_arrow.names), meta.metadata.num_rows
        except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
            raise DataError(
                f"{self.path}: cannot read {self.suffix[1:]} file ({first_line(exc)})"
            ) from exc

    def check_flat(self, names: Iterable[str]) -> None:
        """Refuse nested (struct, list, map) Parquet columns among those the model reads."""
        if self.arrow_schema is None:
            return
        import pyarrow as pa

        wanted = set(names)
        read = pa.schema([field for field in self.arrow_schema if field.name in wanted])
        artifacts.check_flat(self.path, read)

    def batches(self, schema: InputSchema, batch_size: int) -> Iterator[pa.RecordBatch]:
        try:
            if self.suffix == ".csv":
                yield from self._csv_batches(schema, batch_size)
            else:
                import pyarrow.parquet as pq

                yield from pq.ParquetFile(self.path).iter_batches(batch_size=batch_size)
        except DataError:
            raise
        except Exception as exc:
            if type(exc).__module__.startswith("pyarrow") or isinstance(exc, OSError):
                raise DataError(f"{self.path}: {self._name_column(first_line(exc))}") from exc
            raise

    def _parse_options(self) -> pacsv.ParseOptions:
        import pyarrow.csv as pacsv

        # Quoted newlines inside values, as pandas (ingest) reads them: one reading of CSV.
        return pacsv.ParseOptions(delimiter=self.dialect.sep, newlines_in_values=True)

    def _name_column(self, message: str) -> str:
        """pyarrow says `In CSV column #2`; say which column that is."""
        import re

        found = re.search(r"In CSV column #(\d+)", message)
        if found and int(found.group(1)) < len(self.columns):
            name = self.columns[int(found.group(1))]
            return message.replace(found.group(0), f"In column {name!r}")
        return message

    def passthrough_types(self, names: list[str]) -> dict[str, pa.DataType]:
        """The numeric type of each CSV column in `names` whose every value is a number:
        int64 when all are integers (without leading zeros: codes such as "007" stay text),
        float64 when all are decimals. Read from every row (those columns only), so the second
        read cannot fail where a guess from the first block would; other columns are absent."""
        if self.suffix != ".csv" or not names:
            return {}
        import pyarrow as pa
        import pyarrow.csv as pacsv

        kinds = dict.fromkeys(names, "int")
        seen: set[str] = set()
        reader = pacsv.open_csv(
            self.path,
            read_options=pacsv.ReadOptions(block_size=4 << 20),
            parse_options=self._parse_options(),
            convert_options=pacsv.ConvertOptions(
                include_columns=names,
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=True,
            ),
        )
        for batch in reader:
            for name, kind in kinds.items():
                if kind != "text":
                    values = batch.column(name).drop_null()
                    if len(values):
                        seen.add(name)
                        kinds[name] = _number_kind(values, kind, self.dialect.decimal)
            if all(kind == "text" for kind in kinds.values()):
                break
        numeric = {"int": pa.int64(), "float": pa.float64()}
        return {n: numeric[k] for n, k in kinds.items() if k in numeric and n in seen}

    def _csv_batches(self, schema: InputSchema, batch_size: int) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        present = set(self.columns)
        types = {s.name: _arrow_type(s) for s in schema.columns if s.name in present}
        # Columns the model does not read keep the type all their values share (numbers stay
        # numbers in the output), else pass through as text: no guess can fail mid-file.
        types.update(self.passthrough_types([n for n in self.columns if n not in types]))
        types.update({name: pa.string() for name in self.columns if name not in types})
        reader = pacsv.open_csv(
            self.path,
            read_options=pacsv.ReadOptions(block_size=4 << 20),
            parse_options=self._parse_options(),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                strings_can_be_null=True,
                decimal_point=self.dialect.decimal,
            ),
        )
        pending: list[pa.RecordBatch] = []
        rows = 0
        for batch in reader:
            pending.append(batch)
            rows += batch.num_rows
            while rows >= batch_size:
                table = pa.Table.from_batches(pending).combine_chunks()
                yield from table.slice(0, batch_size).to_batches()
                rest = table.slice(batch_size)
                pending, rows = rest.to_batches(), rest.num_rows
        if rows:
            yield from pa.Table.from_batches(pending).combine_chunks().to_batches()
