"""The clustered proportion interval: range, monotonicity, epochs, and coverage by simulation."""

from __future__ import annotations

import numpy as np
import pytest

from prosaic_evals.stats import proportion_interval, score_interval
from prosaic_evals.stats._betabinomial import intervals

from ._generators import binary

CLUSTERS = np.repeat(np.arange(20), 5)


def test_more_successes_never_lower_the_bounds() -> None:
    """0 of 100 must not give a wider upper bound than 1 of 100 (the old interval did: 0.161 vs 0.055)."""
    values = np.zeros(100)
    previous = proportion_interval(values, CLUSTERS)
    for i in [0, 7, 13, 1, 2, 55, 56, 3]:  # successes spread over clusters, then piled into one
        values[i] = 1.0
        current = proportion_interval(values, CLUSTERS)
        assert current.high >= previous.high - 1e-12 and current.low >= previous.low - 1e-12
        previous = current


def test_intervals_stay_in_the_unit_range_and_are_never_zero_width() -> None:
    for successes in [0, 1, 50, 99, 100]:
        values = np.r_[np.ones(successes), np.zeros(100 - successes)]
        interval = proportion_interval(values, CLUSTERS)
        assert 0.0 <= interval.low <= interval.estimate <= interval.high <= 1.0
        assert interval.high - interval.low > 0.01


def test_epochs_are_trials_of_one_item_not_more_items() -> None:
    values = np.random.default_rng(0).integers(0, 2, 300).astype(float)
    items = np.repeat(np.arange(100), 3)
    interval = score_interval(values, np.repeat(CLUSTERS, 3), items=items)
    assert interval.n == 100 and interval.epochs == 3 and interval.clusters == 20


def test_one_cluster_has_no_interval_and_nan_is_an_error() -> None:
    assert np.isnan(proportion_interval([1.0, 0.0], ["a", "a"]).low)
    with pytest.raises(ValueError, match="NaN"):
        proportion_interval([1.0, float("nan")])


@pytest.mark.parametrize(
    ("p", "icc", "clusters", "upper"),
    [
        (0.5, 0.7, 20, 0.97),
        (0.2, 0.3, 30, 0.97),
        # near 0 and 1 the likelihood interval is conservative (measured 0.982 and 0.9875), never liberal
        (0.05, 0.3, 30, 0.99),
        (0.95, 0.0, 20, 0.99),
    ],
)
def test_the_interval_covers_where_these_studies_live(p: float, icc: float, clusters: int, upper: float) -> None:
    """2,000 latent-probit data sets of 5 items per cluster; Monte Carlo SE of a coverage near 0.95: 0.005.
    The full grid (ICC 0/0.3/0.7, 20/30 clusters, p 0.02 to 0.95) is analysis/stats_coverage.py."""
    data = binary(np.random.default_rng(1), p, icc, clusters, 5, 2000)
    k, m = data.sum(axis=2), np.full((2000, clusters), 5)
    low, high = intervals(k, m[0])  # Profile.interval for all data sets at once
    coverage = float(np.mean((low <= p) & (p <= high)))
    assert 0.94 <= coverage <= upper, coverage
