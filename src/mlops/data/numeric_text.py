"""Numbers stored as text: a column that is numeric except for a few missing-value markers
(`?`, `-`, `n/a`) or written with thousands separators (`1,234`) was silently taken for a
categorical with thousands of levels. Ingest stops and names the setting that reads it right."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mlops.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

#: Values sampled per text column (seeded: the first ones, then evenly spaced).
SAMPLE = 10_000
#: A column is "numeric text" when at least this share of its sampled values are numbers.
NUMERIC_SHARE = 0.9
#: ...and the rest is at most this many distinct short tokens (the missing-value markers).
MAX_MARKERS = 5
MARKER_LENGTH = 12
_THOUSANDS = {
    ",": re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$"),
    ".": re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?$"),
    " ": re.compile(r"^[+-]?\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d+)?$"),
    "'": re.compile(r"^[+-]?\d{1,3}(?:'\d{3})+(?:\.\d+)?$"),
}
_PLAIN = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")


def _sample(series: pd.Series) -> pd.Series:
    present = series.dropna()
    if len(present) > SAMPLE:
        step = len(present) // SAMPLE
        present = present.iloc[::step][:SAMPLE]
    return present.astype(str).str.strip()


def check_numeric_text(
    frame: pd.DataFrame, source: str, *, csv: bool, skip: tuple[str, ...] = ()
) -> None:
    """Raise DataError for the first text column holding numbers the reader did not parse."""
    import pandas as pd

    for name in frame.columns:
        column = frame[name]
        if str(name) in skip or not (
            pd.api.types.is_string_dtype(column.dtype) or pd.api.types.is_object_dtype(column.dtype)
        ):
            continue
        values = _sample(column)
        values = values[values != ""]
        if len(values) < 20:
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        parsed = numbers.notna()
        share = float(parsed.mean())
        if share == 1.0:
            continue  # a text column of numbers (codes): pandas chose text for a reason
        if share >= NUMERIC_SHARE:
            _markers(name, values[~parsed], source, csv)
        _thousands(name, values, source, csv)


def _markers(name: object, rest: pd.Series, source: str, csv: bool) -> None:
    tokens = sorted(set(rest))
    if len(tokens) > MAX_MARKERS or any(len(t) > MARKER_LENGTH for t in tokens):
        return
    if any(any(ch.isdigit() for ch in t) for t in tokens):
        return  # "12 kg", "1e": not a missing marker
    shown = ", ".join(repr(t) for t in tokens)
    fix = (
        f"set data.csv.na_values: [{shown}] to read them as missing"
        if csv
        else "replace them with nulls in the file"
    )
    raise DataError(
        f"{source}: column {name!r} is numeric except {len(rest)} sampled value(s) {shown}, "
        f"which would make it a categorical: {fix}, or list it in data.drop"
    )


def _thousands(name: object, values: pd.Series, source: str, csv: bool) -> None:
    for mark, pattern in _THOUSANDS.items():
        grouped = values.str.match(pattern)
        if not bool(grouped.any()):
            continue
        numeric = grouped | values.str.match(_PLAIN)
        if float(numeric.mean()) < NUMERIC_SHARE:
            continue
        example = values[grouped].iloc[0]
        fix = (
            f'set data.csv.thousands: "{mark}" to read them as numbers'
            if csv
            else "store them as numbers in the file"
        )
        raise DataError(
            f"{source}: column {name!r} holds numbers with thousands separators "
            f"(e.g. {example!r}), which would make it a categorical: {fix}"
        )
