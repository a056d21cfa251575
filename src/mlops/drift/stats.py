"""Vectorised drift statistics on numpy arrays; scipy is imported lazily, only for p-values.

Every statistic here matches its scipy counterpart (`ks_2samp`, `wasserstein_distance`,
`chi2_contingency`, `distance.jensenshannon`) and, for PSI and the binning, Evidently's
definitions. The numeric path sorts each sample once and derives the Kolmogorov-Smirnov
statistic, the Wasserstein distance and the number of distinct values from one merge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    FloatArray = NDArray[np.float64]
    IntArray = NDArray[np.int64]

Correction = Literal["bh", "bonferroni", "none"]

#: scipy's `ks_2samp(method="auto")` computes exact p-values up to this many rows per side.
KS_EXACT_MAX = 10_000
#: Evidently's floor for the reference standard deviation that normalises Wasserstein.
MIN_NORM = 0.001
#: Merged samples are scanned in chunks of this many values (bounded temporary memory).
CHUNK = 1 << 18
#: p-values are floored here before logs (severity), so a p-value of 0 stays finite.
P_FLOOR = 1e-300


@dataclass(frozen=True)
class MergedStats:
    """What one merge of two sorted samples yields."""

    ks: float
    wasserstein: float
    distinct: int


def finite_sorted(values: NDArray[np.float64]) -> FloatArray:
    """A sorted copy of the finite values (NaN and +-inf dropped, as Evidently does)."""
    mask = np.isfinite(values)
    kept = values[mask] if not mask.all() else values.copy()
    kept.sort()
    return kept


def merged_stats(ref: FloatArray, cur: FloatArray, chunk: int = CHUNK) -> MergedStats:
    """KS statistic, Wasserstein-1 distance and distinct-value count of two sorted samples.

    Equal to `scipy.stats.ks_2samp(ref, cur).statistic` and `wasserstein_distance(ref, cur)`:
    the CDF gap at each merged value is `|a/n - b/m|` for `a` reference and `b` current values
    up to it, kept as the exact integer `|a*m - b*n|`; only the end of each run of tied values
    counts (elsewhere the step to the next value is zero). Memory: the two samples, concatenated,
    and their merge order; the scan runs in chunks.
    """
    n, m = ref.size, cur.size
    if n == 0 or m == 0:
        raise ValueError("both samples need at least one value")
    both = np.concatenate((ref, cur))
    order = np.argsort(both, kind="stable")  # two sorted runs: a linear merge
    total = n + m
    widest = 0
    distance = 0.0
    distinct = 0
    carry = 0
    for start in range(0, total, chunk):
        stop = min(start + chunk, total)
        index = order[start : stop + 1]  # one value of lookahead
        ref_count = np.cumsum(index[: stop - start] < n, dtype=np.int64)
        ref_count += carry
        carry = int(ref_count[-1])
        # a*m - b*n with b = position - a
        gap = np.abs(ref_count * total - np.arange(start + 1, stop + 1, dtype=np.int64) * n)
        deltas = np.diff(both[index])
        inner = gap[: deltas.size]
        ends = deltas != 0
        if ends.any():
            widest = max(widest, int(inner[ends].max()))
        distinct += int(np.count_nonzero(ends))
        distance += float(np.sum(inner * deltas))
        if stop == total:  # the last value ends the last run
            widest = max(widest, int(gap[-1]))
            distinct += 1
    scale = float(n) * float(m)
    return MergedStats(ks=widest / scale, wasserstein=distance / scale, distinct=distinct)


def wasserstein_sorted(ref: FloatArray, cur: FloatArray) -> float:
    """Wasserstein-1 distance of two sorted samples, as `scipy.stats.wasserstein_distance`.

    Equal sizes need no merge: the quantile functions step together, so the distance is the
    mean absolute difference of the sorted samples. Otherwise it comes from `merged_stats`.
    """
    if ref.size == cur.size and ref.size:
        return float(np.mean(np.abs(ref - cur)))
    return merged_stats(ref, cur).wasserstein


def distinct_union(ref: FloatArray, cur: FloatArray, limit: int) -> int:
    """Distinct values of two sorted samples together, exact up to `limit` (else limit + 1)."""
    values = []
    for side in (ref, cur):
        distinct = int(np.count_nonzero(side[1:] != side[:-1])) + 1 if side.size else 0
        if distinct > limit:
            return limit + 1
        values.append(sorted_value_counts(side)[0])
    return min(int(np.union1d(*values).size), limit + 1)


def wasserstein_norm(distance: float, ref_std: float) -> float:
    """Wasserstein distance in reference standard deviations (Evidently's normalisation)."""
    return distance / max(ref_std, MIN_NORM)


def ks_test(ref: FloatArray, cur: FloatArray) -> tuple[float, float]:
    """Two-sided two-sample KS test of sorted samples: (statistic, p-value), as `ks_2samp`.

    Small samples get scipy's exact p-value (scipy computes it from the data); large ones the
    asymptotic distribution scipy uses, applied to the statistic from `merged_stats`.
    """
    from scipy import stats

    n, m = ref.size, cur.size
    if max(n, m) <= KS_EXACT_MAX:
        result = stats.ks_2samp(ref, cur)
        return float(result.statistic), float(result.pvalue)
    statistic = merged_stats(ref, cur).ks
    big, small = sorted([float(n), float(m)], reverse=True)
    effective = big * small / (big + small)
    p_value = float(np.clip(stats.distributions.kstwo.sf(statistic, np.round(effective)), 0, 1))
    return statistic, p_value


# --------------------------------------------------------------------------- frequencies


def align_counts(
    ref_labels: list[str], ref_counts: ArrayLike, cur_labels: list[str], cur_counts: ArrayLike
) -> tuple[list[str], IntArray, IntArray]:
    """Counts of both samples over the union of their labels (reference order first)."""
    labels = list(dict.fromkeys([*ref_labels, *cur_labels]))
    index = {label: i for i, label in enumerate(labels)}
    ref = np.zeros(len(labels), dtype=np.int64)
    cur = np.zeros(len(labels), dtype=np.int64)
    np.add.at(ref, [index[x] for x in ref_labels], np.asarray(ref_counts, dtype=np.int64))
    np.add.at(cur, [index[x] for x in cur_labels], np.asarray(cur_counts, dtype=np.int64))
    return labels, ref, cur


def chi2_contingency_batch(
    ref_counts: ArrayLike, cur_counts: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Chi-square tests of homogeneity on many 2 x k tables at once (counts on the last axis).

    Per table, the same numbers as `scipy.stats.chi2_contingency`: categories empty on both
    sides are left out, Yates' correction applies when one degree of freedom is left, and a
    table with a single category gives statistic 0, p-value 1. Both sides need a count > 0.
    """
    from scipy.special import chdtrc

    observed = np.stack(np.broadcast_arrays(ref_counts, cur_counts), axis=-2).astype(np.float64)
    columns = observed.sum(axis=-2, keepdims=True)
    rows = observed.sum(axis=-1, keepdims=True)
    present = np.broadcast_to(columns > 0, observed.shape)
    expected = rows * columns / rows.sum(axis=-2, keepdims=True)
    dof = np.count_nonzero(columns > 0, axis=(-2, -1)) - 1
    diff = expected - observed
    yates = (dof == 1)[..., None, None]
    adjusted = np.where(yates, observed + np.minimum(0.5, np.abs(diff)) * np.sign(diff), observed)
    safe = np.where(present, expected, 1.0)
    terms = np.where(present, (adjusted - expected) ** 2 / safe, 0.0)
    tested = dof > 0
    statistic: FloatArray = np.where(tested, terms.sum(axis=(-2, -1)), 0.0)
    p_value: FloatArray = np.where(tested, chdtrc(np.maximum(dof, 1), statistic), 1.0)
    return statistic, p_value


def chi2_contingency_test(ref_counts: ArrayLike, cur_counts: ArrayLike) -> tuple[float, float]:
    """Chi-square test of homogeneity on the 2 x k table: (statistic, p-value).

    The same numbers as `scipy.stats.chi2_contingency` (Yates' correction when the table has one
    degree of freedom). Unlike Evidently's goodness-of-fit test it does not treat the reference
    frequencies as exact, so it does not overstate drift when the reference is small.
    """
    statistic, p_value = chi2_contingency_batch(ref_counts, cur_counts)
    return float(statistic), float(p_value)


def ks_statistics(ref: ArrayLike, cur: ArrayLike) -> FloatArray:
    """KS statistics of many pairs of samples at once (samples on the last axis, any order).

    The batch form of `merged_stats(...).ks` for calibration studies: one stable argsort of
    every concatenated pair, the CDF gap evaluated at the end of each run of tied values.
    """
    ref_a = np.sort(np.asarray(ref, dtype=np.float64), axis=-1)
    cur_a = np.sort(np.asarray(cur, dtype=np.float64), axis=-1)
    n, m = ref_a.shape[-1], cur_a.shape[-1]
    joined = np.concatenate((ref_a, cur_a), axis=-1)  # the same batch shape on both sides
    order = np.argsort(joined, axis=-1, kind="stable")
    values = np.take_along_axis(joined, order, axis=-1)
    ref_count = np.cumsum(order < n, axis=-1, dtype=np.int64)
    position = np.arange(1, n + m + 1, dtype=np.int64)
    gap = np.abs(ref_count * (n + m) - position * n)
    ends = np.concatenate(
        (values[..., 1:] != values[..., :-1], np.ones((*values.shape[:-1], 1), dtype=bool)),
        axis=-1,
    )
    widest = np.where(ends, gap, 0).max(axis=-1)
    result: FloatArray = widest / (float(n) * float(m))
    return result


def cramers_v(ref_counts: ArrayLike, cur_counts: ArrayLike) -> float:
    """Cramér's V of the 2 x k table (uncorrected chi-square): 0 = same mix, 1 = disjoint."""
    observed = np.vstack([ref_counts, cur_counts]).astype(np.float64)
    observed = observed[:, observed.sum(axis=0) > 0]
    total = observed.sum()
    if observed.shape[1] < 2 or total == 0:
        return 0.0
    expected = observed.sum(axis=1, keepdims=True) * observed.sum(axis=0, keepdims=True) / total
    statistic = float(((observed - expected) ** 2 / expected).sum())
    return min(1.0, math.sqrt(statistic / total))


def _rel_entr(x: FloatArray, y: FloatArray) -> FloatArray:
    positive = x > 0
    safe_x = np.where(positive, x, 1.0)
    safe_y = np.where(positive, y, 1.0)
    result: FloatArray = np.where(positive, safe_x * np.log(safe_x / safe_y), 0.0)
    return result


def jensenshannon(p: ArrayLike, q: ArrayLike) -> float:
    """Jensen-Shannon distance (natural log), as `scipy.spatial.distance.jensenshannon`."""
    pa = np.asarray(p, dtype=np.float64)
    qa = np.asarray(q, dtype=np.float64)
    pa = pa / pa.sum()
    qa = qa / qa.sum()
    mid = (pa + qa) / 2.0
    divergence = float(_rel_entr(pa, mid).sum() + _rel_entr(qa, mid).sum())
    return math.sqrt(max(divergence, 0.0) / 2.0)


def fill_zeros(percents: FloatArray) -> FloatArray:
    """Evidently's replacement for empty bins before PSI (avoids log(0))."""
    present = percents[percents != 0]
    if present.size == 0:
        return percents
    smallest = float(present.min())
    filler = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return np.where(percents == 0, filler, percents)


def psi(ref_counts: ArrayLike, cur_counts: ArrayLike) -> float:
    """Population stability index over shared bins, as Evidently computes it."""
    ref = np.asarray(ref_counts, dtype=np.float64)
    cur = np.asarray(cur_counts, dtype=np.float64)
    ref = fill_zeros(ref / ref.sum())
    cur = fill_zeros(cur / cur.sum())
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def sturges_edges(ref: FloatArray, cur: FloatArray) -> FloatArray:
    """Evidently's bins for a numeric column: Sturges' rule over both samples."""
    both = np.concatenate((ref, cur))
    low, high = float(both.min()), float(both.max())
    if math.isfinite(high - low):
        edges: FloatArray = np.histogram_bin_edges(both, bins="sturges")
        return edges
    # The range overflows a float (values near +-1.8e308): the same count of equal bins.
    count = math.ceil(math.log2(both.size)) + 1
    wide: FloatArray = np.linspace(low / 2, high / 2, count + 1) * 2
    return wide


def binned_counts(ref: FloatArray, cur: FloatArray, edges: FloatArray) -> tuple[IntArray, IntArray]:
    ref_counts: IntArray = np.histogram(ref, bins=edges)[0]
    cur_counts: IntArray = np.histogram(cur, bins=edges)[0]
    return ref_counts, cur_counts


def sorted_value_counts(values: FloatArray) -> tuple[FloatArray, IntArray]:
    """Distinct values and their counts, from a sorted array."""
    if values.size == 0:
        return values, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    counts = np.diff(np.r_[starts, values.size]).astype(np.int64)
    return values[starts], counts


# --------------------------------------------------------------------------- p-value families


def adjust_pvalues(p_values: ArrayLike, method: Correction = "bh") -> FloatArray:
    """Multiple-testing adjusted p-values along the last axis (each row is one family).

    `bh` is Benjamini-Hochberg (false discovery rate; equal to
    `scipy.stats.false_discovery_control`), `bonferroni` multiplies by the family size.
    """
    p = np.asarray(p_values, dtype=np.float64)
    size = p.shape[-1] if p.ndim else 1
    if p.size == 0 or method == "none":
        return p.copy()
    if method == "bonferroni":
        adjusted: FloatArray = np.minimum(p * size, 1.0)
        return adjusted
    order = np.argsort(p, axis=-1)
    ranked = np.take_along_axis(p, order, axis=-1) * size / np.arange(1, size + 1)
    ranked = np.minimum.accumulate(ranked[..., ::-1], axis=-1)[..., ::-1]
    result = np.empty_like(ranked)
    np.put_along_axis(result, order, np.minimum(ranked, 1.0), axis=-1)
    return result


def p_severity(p_value: float, alpha: float) -> float:
    """How far past the threshold a p-value is: 1 at alpha, larger = stronger evidence."""
    return math.log(max(p_value, P_FLOOR)) / math.log(alpha)
