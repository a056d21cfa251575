"""Read captured traffic: every complete capture file, filtered by time and row count."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pyarrow as pa

#: Names the server writes (hidden temp files of unfinished writes never match).
PATTERN = "capture-*.parquet"
TIMESTAMP = "_timestamp"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """`30m`, `1h`, `2d`, `1h30m` -> a timedelta (a ConfigError names what was expected)."""
    cleaned = text.strip().lower()
    parts = _DURATION.findall(cleaned)
    if not parts or _DURATION.sub("", cleaned).strip():
        raise ConfigError(
            f"--since {text!r}: expected a duration like 30m, 1h, 2d or 1h30m (s, m, h, d, w)"
        )
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def capture_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(PATTERN)) if directory.is_dir() else []


def read_capture(
    directory: Path,
    *,
    since: timedelta | None = None,
    window: int | None = None,
    now: datetime | None = None,
) -> tuple[pa.Table, int]:
    """The captured rows (oldest first) and how many files they came from.

    `since` keeps rows newer than now - since; `window` keeps the last N rows after that.
    Raises DataError when there is no captured traffic (naming the directory).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    files = capture_files(directory)
    if not files:
        raise DataError(
            f"{directory}: no captured traffic (no {PATTERN} files); enable serve.capture "
            "and send requests to `mlops serve`"
        )
    cutoff = None if since is None else (now or datetime.now(UTC)) - since
    tables = []
    for path in files:
        if cutoff is not None and _closed_before(path, cutoff):
            continue  # every row of a file is older than the time in its name
        try:
            tables.append(pq.read_table(path))
        except Exception as exc:  # pyarrow raises several unrelated types for bad files
            raise DataError(f"{path}: cannot read capture file ({exc})") from exc
    if not tables:
        raise DataError(
            f"{directory}: no captured traffic in the last {since} ({len(files)} capture files)"
        )
    table = pa.concat_tables(tables, promote_options="permissive")
    if TIMESTAMP not in table.column_names:
        raise DataError(f"{directory}: capture files lack the {TIMESTAMP} column")
    if cutoff is not None:
        stamps = table.column(TIMESTAMP)
        table = table.filter(pc.greater_equal(stamps, pa.scalar(cutoff, type=stamps.type)))
    order = pc.sort_indices(table, sort_keys=[(TIMESTAMP, "ascending")])
    table = table.take(order)
    if window is not None:
        table = table.slice(max(0, table.num_rows - window))
    if table.num_rows == 0:
        what = f" in the last {since}" if since is not None else ""
        raise DataError(f"{directory}: no captured traffic{what} ({len(files)} capture files)")
    return table, len(files)


def _closed_before(path: Path, cutoff: datetime) -> bool:
    """Whether a server-named file (`capture-<UTC time>-<pid>-<seq>`) was closed before
    `cutoff` (a second of slack for the truncated time); other names: False."""
    parts = path.stem.split("-")
    if len(parts) != 4:
        return False
    try:
        closed = datetime.strptime(parts[1], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return False
    return closed + timedelta(seconds=1) < cutoff
