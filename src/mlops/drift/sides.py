"""The cleaned values of one side of a column, and the histograms the HTML report draws."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from mlops.drift import stats
from mlops.drift.report import ColumnKind, Histogram, SideStats

if TYPE_CHECKING:
    import pyarrow as pa

    from mlops.drift.stats import FloatArray, IntArray

HISTOGRAM_BINS = 24
TOP_CATEGORIES = 15


@dataclass(frozen=True)
class Side:
    """One side of a column after cleaning: finite sorted numbers or category counts."""

    dtype: str | None
    rows: int
    present: int
    values: FloatArray | None = None  # numeric: sorted finite values
    labels: list[str] | None = None  # categorical: distinct labels
    counts: IntArray | None = None  # categorical: their counts

    @cached_property
    def summary(self) -> SideStats:
        """Rows, missing values, distinct values, mean and std (computed once)."""
        missing = self.rows - self.present
        mean = std = None
        if self.values is not None and self.values.size:
            mean, std = finite(float(np.mean(self.values))), finite(float(np.std(self.values)))
        distinct = None
        if self.labels is not None:
            distinct = len(self.labels)
        elif self.values is not None and self.values.size:
            distinct = int(np.count_nonzero(self.values[1:] != self.values[:-1])) + 1
        return SideStats(
            dtype=self.dtype,
            rows=self.rows,
            missing=missing,
            missing_rate=missing / self.rows if self.rows else 0.0,
            distinct=distinct,
            mean=mean,
            std=std,
        )


def finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def absent_side() -> SideStats:
    return SideStats(dtype=None, rows=0, missing=0, missing_rate=0.0)


def numeric_side(array: pa.ChunkedArray) -> Side:
    import pyarrow as pa

    floats = array.cast(pa.float64(), safe=False)  # int64 beyond 2^53: nearest float, not an error
    # Per chunk: ChunkedArray.to_numpy would import pandas.
    parts = [chunk.to_numpy(zero_copy_only=False) for chunk in floats.chunks]
    if not parts:
        values = np.zeros(0, dtype=np.float64)
    else:
        values = np.concatenate(parts) if len(parts) > 1 else parts[0]
    kept = stats.finite_sorted(values)
    return Side(dtype=str(array.type), rows=len(array), present=int(kept.size), values=kept)


def categorical_side(array: pa.ChunkedArray) -> Side:
    import pyarrow as pa
    import pyarrow.compute as pc

    counted = pc.value_counts(array)
    values = counted.field("values")
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    labels = values.cast(pa.string()).to_pylist()
    counts = counted.field("counts").to_numpy()
    keep = [i for i, label in enumerate(labels) if label is not None]
    kept_labels = [str(labels[i]) for i in keep]
    kept_counts = np.asarray(counts[keep], dtype=np.int64)
    return Side(
        dtype=str(array.type),
        rows=len(array),
        present=int(kept_counts.sum()),
        labels=kept_labels,
        counts=kept_counts,
    )


def _value_label(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def as_categories(side: Side) -> Side:
    """A numeric side as category counts (few distinct values)."""
    assert side.values is not None
    distinct, counts = stats.sorted_value_counts(side.values)
    labels = [_value_label(float(v)) for v in distinct]
    return Side(side.dtype, side.rows, side.present, labels=labels, counts=counts)


def read_side(array: pa.ChunkedArray, kind: ColumnKind) -> Side:
    return numeric_side(array) if kind == "numeric" else categorical_side(array)


def counted(side: Side) -> tuple[list[str], IntArray]:
    assert side.labels is not None and side.counts is not None
    return side.labels, side.counts


def unseen_categories(ref: Side, cur: Side) -> tuple[list[str], float]:
    """Current categories the reference never had (most frequent first), and their share of
    the current values."""
    return _absent_from(cur, ref)


def vanished_categories(ref: Side, cur: Side) -> tuple[list[str], float]:
    """Reference categories the current batch lost (most frequent first), and their share of
    the reference values."""
    return _absent_from(ref, cur)


def _absent_from(side: Side, other: Side) -> tuple[list[str], float]:
    assert side.labels is not None and side.counts is not None and other.labels is not None
    assert other.counts is not None
    known = {label for label, n in zip(other.labels, other.counts, strict=True) if n > 0}
    absent = [
        (label, int(n))
        for label, n in zip(side.labels, side.counts, strict=True)
        if label not in known and n > 0
    ]
    absent.sort(key=lambda item: (-item[1], item[0]))
    share = sum(n for _, n in absent) / side.present if side.present else 0.0
    return [label for label, _ in absent], round(share, 6)


# --------------------------------------------------------------------------- histograms


#: A side whose central range covers less than this share of both sides' range is drawn on its
#: own axis (its shape would fit in a bin or two of the shared one).
NARROW_SHARE = 1 / 8


def _quantile(values: FloatArray, q: float) -> float:
    return float(values[min(values.size - 1, int(q * values.size))])


def _central(values: FloatArray) -> tuple[float, float]:
    """The central 99% of a sorted sample (its whole range when that is a single value)."""
    low, high = _quantile(values, 0.005), _quantile(values, 0.995)
    if not high > low:
        low, high = float(values[0]), float(values[-1])
    return low, high


def _binned(values: FloatArray, edges: FloatArray) -> list[float]:
    cuts = np.searchsorted(values, edges[1:-1], side="left")
    counts = np.diff(np.r_[0, cuts, values.size])
    return [round(float(c) / values.size, 6) for c in counts]


def _bin_labels(edges: FloatArray) -> list[str]:
    return [f"{edges[i]:.4g} to {edges[i + 1]:.4g}" for i in range(edges.size - 1)]


def _own_axis(values: FloatArray, bins: int) -> tuple[list[str], list[float]]:
    low, high = _central(values)
    if not high > low:
        return [f"{low:.4g}"], [1.0]
    edges = np.linspace(low, high, bins + 1)
    return _bin_labels(edges), _binned(values, edges)


def numeric_histogram(ref: FloatArray, cur: FloatArray, bins: int = HISTOGRAM_BINS) -> Histogram:
    """Shares per equal-width bin over the central 99% of both samples (tails in the end bins).

    When the two ranges are disjoint, or one is a sliver of the other, each side is binned on
    its own axis: on a shared one, its shape would be a single bar.
    """
    ref_low, ref_high = _central(ref)
    cur_low, cur_high = _central(cur)
    low, high = min(ref_low, cur_low), max(ref_high, cur_high)
    if not high > low:
        label = f"{low:.4g}"
        return Histogram(kind="bins", labels=[label], reference=[1.0], current=[1.0])
    span = high - low
    disjoint = ref_high < cur_low or cur_high < ref_low
    narrow = min(ref_high - ref_low, cur_high - cur_low) < NARROW_SHARE * span
    if disjoint or narrow:
        ref_labels, ref_shares = _own_axis(ref, bins)
        cur_labels, cur_shares = _own_axis(cur, bins)
        return Histogram(
            kind="bins",
            labels=ref_labels,
            reference=ref_shares,
            current=cur_shares,
            axes="separate",
            current_labels=cur_labels,
        )
    edges = np.linspace(low, high, bins + 1)
    return Histogram(
        kind="bins",
        labels=_bin_labels(edges),
        reference=_binned(ref, edges),
        current=_binned(cur, edges),
    )


def category_histogram(ref: Side, cur: Side, top: int = TOP_CATEGORIES) -> Histogram:
    assert ref.labels is not None and cur.labels is not None
    assert ref.counts is not None and cur.counts is not None
    labels, ref_counts, cur_counts = stats.align_counts(
        ref.labels, ref.counts, cur.labels, cur.counts
    )
    ref_share = ref_counts / max(ref.present, 1)
    cur_share = cur_counts / max(cur.present, 1)
    order = np.argsort(-(ref_share + cur_share), kind="stable")
    shown = order[:top]
    names = [labels[i] for i in shown]
    ref_list = [round(float(ref_share[i]), 6) for i in shown]
    cur_list = [round(float(cur_share[i]), 6) for i in shown]
    unseen = [bool(ref_counts[i] == 0 and cur_counts[i] > 0) for i in shown]
    vanished = [bool(ref_counts[i] > 0 and cur_counts[i] == 0) for i in shown]
    rest = order[top:]
    if rest.size:
        names.append(f"(other {rest.size})")
        ref_list.append(round(float(ref_share[rest].sum()), 6))
        cur_list.append(round(float(cur_share[rest].sum()), 6))
        unseen.append(False)
        vanished.append(False)
    return Histogram(
        kind="categories",
        labels=names,
        reference=ref_list,
        current=cur_list,
        unseen=unseen,
        vanished=vanished,
    )
