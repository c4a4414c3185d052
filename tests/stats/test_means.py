"""Means and continuous paired differences: Hall's skewness-corrected t, its interval, edge cases, coverage."""

from __future__ import annotations

import numpy as np
import pytest

from prosaic_evals.stats import compare_paired, mean_interval
from prosaic_evals.stats._skewt import SkewT

from ._generators import continuous

CLUSTERS = np.repeat(np.arange(20), 5)


def test_the_interval_excludes_exactly_the_values_the_test_rejects() -> None:
    rng = np.random.default_rng(1)
    test = SkewT(rng.exponential(1.0, 12), np.ones(12))
    low, high = test.interval(0.05)
    assert test.p_value(low) == pytest.approx(0.05) and test.p_value(high) == pytest.approx(0.05)
    assert test.p_value(low - 1e-6) < 0.05 < test.p_value(low + 1e-6)
    assert test.p_value(high + 1e-6) < 0.05 < test.p_value(high - 1e-6)
    # right-skewed data: the interval reaches further up than down
    assert high - test.estimate > test.estimate - low


def test_without_skewness_it_is_the_t_interval() -> None:
    from scipy import stats as st

    values = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, -0.5, 0.5, 3.0, -3.0, 0.0])  # symmetric: skewness 0
    low, high = SkewT(values, np.ones(10)).interval(0.05)
    half = st.t.ppf(0.975, 9) * values.std(ddof=1) / np.sqrt(10)
    assert (low, high) == pytest.approx((values.mean() - half, values.mean() + half))


def test_edge_cases_have_defined_answers() -> None:
    one = mean_interval([0.4])
    assert np.isnan(one.low) and "too few clusters" in one.method
    same = mean_interval([0.7] * 10)  # no variation: no interval rather than a zero-width one
    assert np.isnan(same.low) and "no variation" in same.method and same.estimate == 0.7
    with pytest.raises(ValueError, match="NaN"):
        mean_interval([0.1, float("nan")])
    # an interval of a mean stays inside the range of its item means
    values = np.random.default_rng(4).random(60)
    interval = mean_interval(values, np.repeat(np.arange(12), 5))
    assert values.min() <= interval.low < interval.estimate < interval.high <= values.max()
    # absolute, not relative, tolerances: a consistent difference of about -1000 is decisive
    shifted = compare_paired(-1000 + np.random.default_rng(2).normal(0, 1e-6, 100), np.zeros(100), CLUSTERS)
    assert shifted.p_value < 1e-12 and shifted.ci_high < -999


def test_equivalence_needs_variation_and_a_positive_margin() -> None:
    x = np.linspace(0, 1, 100)
    with pytest.raises(ValueError, match="variation"):
        compare_paired(x + 0.1, x, CLUSTERS, margin=0.5)
    with pytest.raises(ValueError, match="positive"):
        compare_paired(x, x[::-1], CLUSTERS, margin=-0.1)


def test_tost_is_the_two_one_sided_tests_of_the_same_statistic() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.normal(0.02, 1, 100), rng.normal(0, 1, 100)
    result = compare_paired(x, y, CLUSTERS, margin=0.5)
    test = SkewT(*np.array([np.bincount(CLUSTERS, weights=x - y), np.bincount(CLUSTERS).astype(float)]))
    assert result.p_equivalence == pytest.approx(max(test.p_greater(-0.5), test.p_less(0.5)))
    # equivalent at 0.05 exactly when the 90% interval lies inside the margin
    low, high = test.interval(0.10)
    assert (result.p_equivalence <= 0.05) == (low > -0.5 and high < 0.5)
    assert result.verdict == ("equivalent" if result.p_equivalence <= 0.05 else "inconclusive")


@pytest.mark.parametrize("kind", ["normal", "t3", "exponential"])
def test_the_interval_covers_clustered_means(kind: str) -> None:
    """2,000 data sets of 20 clusters x 5 items, ICC 0.3; Monte Carlo SE of a coverage near 0.95: 0.005.
    (10 to 30 clusters, ICC 0 to 0.7, lognormal data too: analysis/stats_coverage.py.)"""
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(2000):
        values = continuous(rng, kind, 0.3, 20, 5).reshape(20, 5)
        low, high = SkewT(values.sum(axis=1), np.full(20, 5.0)).interval(0.05)
        hits += low <= 0.0 <= high
    assert 0.935 <= hits / 2000 <= 0.97, hits / 2000


def test_paired_differences_of_skewed_scores_hold_their_level() -> None:
    """The issue's case: skewed item differences with mean 0 and 10 clusters (the sign-flip rejected 0.079).
    2,000 data sets; Monte Carlo SE of a 0.05 rejection rate about 0.005."""
    rng = np.random.default_rng(8)
    clusters, rejected = np.repeat(np.arange(10), 5), 0
    for _ in range(2000):
        diff = continuous(rng, "exponential", 0.3, 10, 5)
        rejected += compare_paired(diff, np.zeros(50), clusters).p_value <= 0.05
    assert rejected / 2000 <= 0.065, rejected / 2000
