"""Drift statistics agree with scipy, the correction is Benjamini-Hochberg, and tests are calibrated."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats as sps
from scipy.spatial import distance

from mlops.drift import stats

TOL = 1e-9


def _samples(kind: str, n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "continuous":
        return rng.normal(0, 1, n), rng.normal(0.05, 1.2, m)
    if kind == "ties":
        return rng.integers(0, 7, n).astype(float), rng.integers(1, 9, m).astype(float)
    if kind == "disjoint":
        return rng.normal(0, 1, n), rng.normal(100, 1, m)
    return np.full(n, 3.0), np.full(m, 3.0)  # constant


CASES = [
    ("continuous", 200, 150),
    ("continuous", 25_000, 12_000),  # asymptotic KS p-value
    ("ties", 600, 900),
    ("ties", 30_000, 11_000),
    ("disjoint", 50, 40),
    ("constant", 40, 60),
    ("continuous", 1, 1),
    ("continuous", 3_000, 3_000),  # equal sizes: Wasserstein without a merge
    ("ties", 500, 500),
]


@pytest.mark.parametrize(("kind", "n", "m"), CASES, ids=[f"{k}-{n}-{m}" for k, n, m in CASES])
def test_ks_wasserstein_and_distinct_agree_with_scipy(kind: str, n: int, m: int) -> None:
    ref, cur = _samples(kind, n, m, seed=n + m)
    merged = stats.merged_stats(stats.finite_sorted(ref), stats.finite_sorted(cur), chunk=997)
    expected = sps.ks_2samp(ref, cur)
    assert merged.ks == pytest.approx(expected.statistic, abs=TOL)
    assert merged.wasserstein == pytest.approx(sps.wasserstein_distance(ref, cur), abs=TOL)
    assert merged.distinct == np.unique(np.r_[ref, cur]).size
    sorted_ref, sorted_cur = stats.finite_sorted(ref), stats.finite_sorted(cur)
    expected_w = sps.wasserstein_distance(ref, cur)
    assert stats.wasserstein_sorted(sorted_ref, sorted_cur) == pytest.approx(expected_w, abs=TOL)
    union = np.unique(np.r_[ref, cur]).size
    assert stats.distinct_union(sorted_ref, sorted_cur, limit=5) == min(union, 6)
    statistic, p_value = stats.ks_test(stats.finite_sorted(ref), stats.finite_sorted(cur))
    assert statistic == pytest.approx(expected.statistic, abs=TOL)
    assert p_value == pytest.approx(expected.pvalue, abs=TOL)


def test_chunking_does_not_change_the_result() -> None:
    ref, cur = _samples("ties", 5_000, 4_000, seed=3)
    ref_sorted, cur_sorted = stats.finite_sorted(ref), stats.finite_sorted(cur)
    whole = stats.merged_stats(ref_sorted, cur_sorted, chunk=1 << 20)
    for chunk in (1, 2, 7, 4_999, 5_000):
        part = stats.merged_stats(ref_sorted, cur_sorted, chunk=chunk)
        assert part.ks == whole.ks
        assert part.distinct == whole.distinct
        assert part.wasserstein == pytest.approx(whole.wasserstein, abs=TOL)


def test_non_finite_values_are_dropped_and_the_rest_sorted() -> None:
    values = np.array([3.0, np.nan, -np.inf, 1.0, np.inf, 2.0])
    assert stats.finite_sorted(values).tolist() == [1.0, 2.0, 3.0]
    assert values[0] == 3.0  # the input is not modified


def test_normalised_wasserstein_uses_the_reference_std_with_evidentlys_floor() -> None:
    assert stats.wasserstein_norm(0.5, 2.0) == 0.25
    assert stats.wasserstein_norm(0.5, 0.0) == pytest.approx(500.0)


@pytest.mark.parametrize(
    ("ref", "cur"),
    [
        ([10, 20], [30, 5]),  # 2x2: Yates' correction
        ([1, 0], [0, 1]),
        ([12, 40, 7, 3, 88], [20, 31, 9, 0, 70]),
        ([5, 0, 9], [4, 0, 11]),  # a category absent on both sides is dropped
        ([100, 1], [1, 100]),
    ],
)
def test_chi_square_agrees_with_chi2_contingency(ref: list[int], cur: list[int]) -> None:
    table = np.array([ref, cur])
    table = table[:, table.sum(axis=0) > 0]
    expected = sps.chi2_contingency(table)
    statistic, p_value = stats.chi2_contingency_test(ref, cur)
    assert statistic == pytest.approx(expected.statistic, abs=TOL)
    assert p_value == pytest.approx(expected.pvalue, abs=TOL)


def test_chi_square_of_a_single_category_is_no_evidence() -> None:
    assert stats.chi2_contingency_test([40], [55]) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("p", "q"),
    [([3, 0, 5, 1], [0, 2, 5, 9]), ([1, 1], [1, 1]), ([0.2, 0.8], [0.9, 0.1]), ([5], [7])],
)
def test_jensen_shannon_agrees_with_scipy(p: list[float], q: list[float]) -> None:
    assert stats.jensenshannon(p, q) == pytest.approx(distance.jensenshannon(p, q), abs=TOL)


def test_binned_jensen_shannon_agrees_with_scipy_on_sturges_bins() -> None:
    rng = np.random.default_rng(5)
    ref, cur = rng.normal(0, 1, 3_000), rng.normal(0.3, 1, 2_000)
    edges = stats.sturges_edges(ref, cur)
    assert np.array_equal(edges, np.histogram_bin_edges(np.r_[ref, cur], bins="sturges"))
    ref_counts, cur_counts = stats.binned_counts(ref, cur, edges)
    expected = distance.jensenshannon(
        np.histogram(ref, edges)[0] / ref.size, np.histogram(cur, edges)[0] / cur.size
    )
    assert stats.jensenshannon(ref_counts, cur_counts) == pytest.approx(expected, abs=TOL)


def test_psi_follows_evidently_including_empty_bins() -> None:
    ref, cur = np.array([50.0, 30.0, 20.0, 0.0]), np.array([40.0, 30.0, 20.0, 10.0])
    ref_p = np.array([0.5, 0.3, 0.2, 0.0001])  # an empty bin becomes 0.0001
    cur_p = cur / cur.sum()
    expected = float(np.sum((ref_p - cur_p) * np.log(ref_p / cur_p)))
    assert stats.psi(ref, cur) == pytest.approx(expected, abs=TOL)
    assert stats.psi([1, 2, 3], [1, 2, 3]) == 0.0


def test_cramers_v_is_zero_for_the_same_mix_and_one_for_disjoint_categories() -> None:
    assert stats.cramers_v([10, 20, 30], [20, 40, 60]) == pytest.approx(0.0, abs=TOL)
    assert stats.cramers_v([10, 0], [0, 10]) == pytest.approx(1.0)
    assert stats.cramers_v([10], [10]) == 0.0


def test_bh_adjustment_equals_scipy_false_discovery_control() -> None:
    rng = np.random.default_rng(11)
    p = rng.random((50, 13)) ** 3
    expected = sps.false_discovery_control(p, axis=-1, method="bh")
    assert np.allclose(stats.adjust_pvalues(p, "bh"), expected, atol=TOL, rtol=0)
    one = p[0]
    assert np.allclose(stats.adjust_pvalues(one), sps.false_discovery_control(one), atol=TOL)


def test_bonferroni_and_none() -> None:
    p = np.array([0.01, 0.2, 0.5])
    assert stats.adjust_pvalues(p, "bonferroni").tolist() == pytest.approx([0.03, 0.6, 1.0])
    assert stats.adjust_pvalues(p, "none").tolist() == p.tolist()
    assert stats.adjust_pvalues([], "bh").size == 0


def test_batched_statistics_agree_with_scipy_per_pair() -> None:
    rng = np.random.default_rng(8)
    ref = rng.integers(0, 6, (40, 30)).astype(float)  # ties
    cur = rng.integers(1, 7, (40, 45)).astype(float)
    batch = stats.ks_statistics(ref, cur)
    for i in range(40):
        assert batch[i] == pytest.approx(sps.ks_2samp(ref[i], cur[i]).statistic, abs=TOL)
    ref_counts = rng.integers(0, 30, (40, 5))
    cur_counts = rng.integers(0, 30, (40, 5))
    ref_counts[:, 2] = cur_counts[:, 2] = 0  # a category nobody has
    ref_counts[:10, 3:] = cur_counts[:10, 3:] = 0  # 2 categories left: Yates
    statistic, p_value = stats.chi2_contingency_batch(ref_counts, cur_counts)
    for i in range(40):
        table = np.array([ref_counts[i], cur_counts[i]])
        expected = sps.chi2_contingency(table[:, table.sum(axis=0) > 0])
        assert statistic[i] == pytest.approx(expected.statistic, abs=TOL)
        assert p_value[i] == pytest.approx(expected.pvalue, abs=TOL)


# --------------------------------------------------------------------------- calibration

ALPHA = 0.05
SEEDS = 5_000
ROWS = 100


def _null_pvalues(seeds: int, rows: int) -> np.ndarray:
    """Per seed: 8 KS and 4 chi-square p-values, both sides drawn from the same law.

    Vectorised over seeds: the batch statistics of the library, and each KS statistic's exact
    p-value looked up once (with equal sizes it depends on the statistic alone; the library's
    `ks_test` computes it on two samples with exactly that statistic).
    """
    rng = np.random.default_rng(20240601)
    numeric = rng.normal(size=(seeds, 8, 2, rows))
    ks = stats.ks_statistics(numeric[:, :, 0], numeric[:, :, 1])
    steps = np.rint(ks * rows).astype(np.int64)
    base = np.arange(rows, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy: exact -> asymptotic far out
        exact = {k: stats.ks_test(base, base + k)[1] for k in np.unique(steps).tolist()}
    p_ks = np.vectorize(exact.__getitem__)(steps)
    counts = rng.multinomial(rows, [0.4, 0.3, 0.2, 0.1], size=(seeds, 4, 2))
    _, p_chi = stats.chi2_contingency_batch(counts[:, :, 0], counts[:, :, 1])
    return np.concatenate([p_ks, p_chi], axis=1)


def test_false_alarm_rate_stays_under_alpha_after_correction() -> None:
    p = _null_pvalues(SEEDS, ROWS)
    corrected = (stats.adjust_pvalues(p, "bh") <= ALPHA).any(axis=1)
    bonferroni = (stats.adjust_pvalues(p, "bonferroni") <= ALPHA).any(axis=1)
    uncorrected = (p <= ALPHA).any(axis=1)
    # Observed family-wise false-alarm rates over 5,000 seeds (standard error ~0.003).
    assert corrected.mean() <= ALPHA, corrected.mean()
    assert bonferroni.mean() <= ALPHA, bonferroni.mean()
    # ...and not significantly above alpha either (one-sided binomial test at 0.1%).
    assert sps.binomtest(int(corrected.sum()), SEEDS, ALPHA, "greater").pvalue > 0.001
    assert (p[:, :8] <= ALPHA).mean() <= ALPHA  # each KS test on its own is calibrated
    assert uncorrected.mean() > 5 * ALPHA  # 12 tests without a correction are not


def test_a_tenth_of_a_standard_deviation_shift_is_detected_at_10k_rows() -> None:
    rng = np.random.default_rng(99)
    ref = stats.finite_sorted(rng.normal(0, 1, 10_000))
    shifted = stats.finite_sorted(rng.normal(0.1, 1, 10_000))
    same = stats.finite_sorted(rng.normal(0, 1, 10_000))
    p_shift = stats.ks_test(ref, shifted)[1]
    p_same = stats.ks_test(ref, same)[1]
    adjusted = stats.adjust_pvalues([p_shift, p_same], "bh")
    assert adjusted[0] <= ALPHA
    assert adjusted[1] > ALPHA
