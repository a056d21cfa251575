"""Identifier columns found by their values, when no schema contract says which they are.

The one detector of `mlops.data.identifiers` (row numbers, unique keys, named keys) decides on
the reference side of a column; drift adds the case a split creates: a shuffled sample of a row
number is no longer `0..n-1` in file order, but still distinct integers packed in their range.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops.data.identifiers import MIN_ID_ROWS, identifier_reason, name_reason

if TYPE_CHECKING:
    import pyarrow as pa

#: Distinct integers filling at least this share of their range are a (sampled) row number.
PACKED_SHARE = 0.5
#: A text column with more distinct values than this, mostly unique, is an id or free text.
MAX_CATEGORIES = 100


def identifier(name: str, array: pa.ChunkedArray, *, keys: bool = True) -> str | None:
    """Why the reference values of `name` are a row number, key or free text (None: not).

    `keys` false: free text only (a schema contract lists the column as a feature, or it is
    not a feature at all).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    dtype = array.type
    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    integer = pa.types.is_integer(dtype)
    text = pa.types.is_string(dtype) or pa.types.is_large_string(dtype)
    if not (integer or text):
        return None
    rows = len(array)
    if rows == 0:
        return None
    present = rows - array.null_count
    distinct = int(pc.count_distinct(array, mode="only_valid").as_py())
    # Every rule of the shared detector but the name needs most values distinct: a column of
    # a few categories is never converted to pandas to learn that.
    if keys and (name_reason(name) is not None or distinct > 0.5 * present):
        series = array.to_pandas()
        reason = identifier_reason(name, series.astype(object) if text else series)
        if reason is not None:
            return reason
    if text:
        if distinct > MAX_CATEGORIES and distinct > 0.5 * present:
            return f"{distinct} distinct values in {present} rows: an id or text"
        return None
    if not keys or rows < MIN_ID_ROWS or array.null_count or distinct < rows:
        return None
    bounds = pc.min_max(array)
    low, high = int(bounds["min"].as_py()), int(bounds["max"].as_py())
    if rows >= PACKED_SHARE * (high - low + 1):
        return f"a row number: {rows} distinct integers filling {low}..{high}"
    return None
