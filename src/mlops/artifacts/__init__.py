"""The one place that knows file formats. Every write is atomic (temp file + rename)."""

from __future__ import annotations

from mlops.artifacts._atomic import atomic_path, pid_alive, write_bytes, write_text
from mlops.artifacts._json import file_md5, hash_file, read_json, to_json, write_json, write_report
from mlops.artifacts._models import (
    MAX_BYTES_ENV,
    MAX_MODEL_BYTES,
    TRUSTED_MODEL_TYPES,
    check_archive,
    check_trusted,
    dump_model,
    load_model,
    load_model_checked,
    save_model,
    untrusted_types,
)
from mlops.artifacts._structure import check_structure
from mlops.artifacts._table_checks import check_flat
from mlops.artifacts._tables import (
    CSV_SEPARATORS,
    SNIFF_CHARS,
    TABLE_SUFFIXES,
    CsvDialect,
    check_csv_text,
    check_single_column,
    read_table,
    sniff_decimal,
    sniff_separator,
    write_table,
)

__all__ = [
    "CSV_SEPARATORS",
    "MAX_BYTES_ENV",
    "MAX_MODEL_BYTES",
    "SNIFF_CHARS",
    "TABLE_SUFFIXES",
    "TRUSTED_MODEL_TYPES",
    "CsvDialect",
    "atomic_path",
    "check_archive",
    "check_csv_text",
    "check_flat",
    "check_single_column",
    "check_structure",
    "check_trusted",
    "dump_model",
    "file_md5",
    "hash_file",
    "load_model",
    "load_model_checked",
    "pid_alive",
    "read_json",
    "read_table",
    "save_model",
    "sniff_decimal",
    "sniff_separator",
    "to_json",
    "untrusted_types",
    "write_bytes",
    "write_json",
    "write_report",
    "write_table",
    "write_text",
]
