"""Drift on a table already in memory (e.g. captured traffic read from many files)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.drift.source import TableSource, _column_types

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass
class _TableInMemory(TableSource):
    """A TableSource over an Arrow table, reported under its own format name."""

    label: str = "parquet"

    @property
    def format(self) -> str:
        return self.label


def table_source(table: pa.Table, path: Path, format: str = "parquet") -> TableSource:
    """One side of a comparison from an in-memory Arrow table; `path` names where it came from
    (the report shows it), `format` what it was read from."""
    types = _column_types(path, table.schema, set())
    return _TableInMemory(path=path, rows=table.num_rows, types=types, _table=table, label=format)
