"""Identifier columns: row numbers and unique keys, which a model must not learn from.

A row number in a file stored in a meaningful order (R exports sorted by the target, say) leaks
the target through a random split; a unique key identifies rows and generalises to nothing.
Both are recorded in the schema contract but not used as features unless listed in
`data.features`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

#: Value-based rules need this many rows: in a small table, 1..n or all-distinct is chance.
MIN_ID_ROWS = 50
#: All-distinct integers over this many rows are a key (a measurement repeats long before).
UNIQUE_INT_ROWS = 1000
#: A column named like `*_id` is a key when at least this share of its values is distinct
#: (below, it is a foreign key with few values, such as a store or region: a category).
KEY_DISTINCT_SHARE = 0.5

#: Names that only ever hold a row number or key (compared lower-cased): R's `rownames` and its
#: empty header (`""`, read by pandas as `Unnamed: 0`, by readr as `...1`), pandas' `index`.
ID_NAMES = frozenset(
    {
        "",
        "id",
        "index",
        "level_0",
        "rownames",
        "rowname",
        "row.names",
        "rowid",
        "row_id",
        "row_number",
        "rownum",
        "uuid",
        "guid",
    }
)
_EXPORTED_INDEX = re.compile(r"^(unnamed: \d+|\.\.\.\d+)$")
_KEY_SUFFIX = re.compile(r"(?:(?i:[_\-. ]id)|[a-z0-9]I[dD])$")


def name_reason(name: str) -> str | None:
    """Why a column name alone marks a row number or key (None: it does not)."""
    folded = name.strip().lower()
    if folded in ID_NAMES or _EXPORTED_INDEX.match(folded):
        shown = f"{name!r}" if name.strip() else "an empty name"
        return f"named {shown}, like a row number or key"
    return None


def _row_index(values: pd.Series) -> int | None:
    """0 or 1 when the values are exactly 0..n-1 or 1..n in file order, else None."""
    import numpy as np

    array = values.to_numpy(dtype=np.int64)
    start = int(array[0])
    if start not in (0, 1):
        return None
    if np.array_equal(array, np.arange(start, start + len(array), dtype=np.int64)):
        return start
    return None


def identifier_reason(name: str, series: pd.Series, target: str | None = None) -> str | None:
    """Why `series` is a row number or unique key rather than a feature (None: it is not).

    Only integer and text columns qualify: floats are measurements, booleans and dates are not
    keys, and a pandas categorical was declared a category.
    """
    import pandas as pd

    if name == target:
        return None
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return None
    integer = pd.api.types.is_integer_dtype(dtype)
    text = pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype)
    if not (integer or text):
        return None
    by_name = name_reason(name)
    if by_name is not None:
        return by_name
    present = series.dropna()
    distinct = int(present.nunique())
    if _KEY_SUFFIX.search(name.strip()) and distinct > KEY_DISTINCT_SHARE * max(len(present), 1):
        return f"named {name!r}, like a key, with {distinct} distinct values in {len(present)} rows"
    rows = len(series)
    if rows < MIN_ID_ROWS or len(present) < rows or distinct < rows:
        return None
    if integer:
        start = _row_index(present)
        if start is not None:
            return f"a row number: {start}..{start + rows - 1} in file order"
        if rows >= UNIQUE_INT_ROWS:
            return f"a unique key: all {rows} integers are distinct"
        return None
    if pd.api.types.infer_dtype(present, skipna=True) != "string":
        return None
    return f"a unique key: all {rows} values are distinct"
