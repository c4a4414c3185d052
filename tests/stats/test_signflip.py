"""The cluster sign-flip test: exact against brute force, its interval the test's inversion, edge cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from prosaic_evals.stats import SignFlip, chance_test
from prosaic_evals.stats._signflip import EXACT_CLUSTERS, RESAMPLES

from ._generators import continuous


def brute_force(totals: np.ndarray, sizes: np.ndarray, t: float) -> float:
    """Equal-tailed two-sided p by listing every sign pattern of the residual totals."""
    residual = totals - t * sizes
    flipped = np.array([np.dot(s, residual) for s in itertools.product((1, -1), repeat=len(totals))])
    observed, tie = residual.sum(), 1e-9  # the all-plus pattern must count itself despite rounding
    return min(1.0, 2 * min(np.mean(flipped >= observed - tie), np.mean(flipped <= observed + tie)))


@pytest.mark.parametrize("seed", range(5))
def test_the_exact_p_is_the_brute_force_p_at_every_value(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 6, 9).astype(float)  # unequal clusters: a ratio of totals
    totals = rng.normal(0.3, 1, 9) * sizes
    flips = SignFlip(totals, sizes)
    for t in [-1.0, -0.2, 0.0, 0.1, 0.3, 0.7, 2.0]:
        assert flips.p_value(t) == pytest.approx(brute_force(totals, sizes, t))


def test_the_interval_excludes_exactly_the_values_the_test_rejects() -> None:
    rng = np.random.default_rng(1)
    flips = SignFlip(rng.normal(0.5, 1, 12), np.ones(12))
    low, high = flips.interval(0.05)
    eps = 1e-9
    assert flips.p_value(low) > 0.05 and flips.p_value(high) > 0.05
    assert flips.p_value(low - eps) <= 0.05 and flips.p_value(high + eps) <= 0.05


def test_p_goes_as_low_as_the_data_allow_and_uses_absolute_differences() -> None:
    # every one of 20 clusters is about -1000 apart: the exact p is 2 / 2^20, not 1 (no relative tolerance)
    values = -1000 + np.random.default_rng(2).normal(0, 1e-6, 100)
    clusters = np.repeat(np.arange(20), 5)
    assert chance_test(values, clusters) == pytest.approx(2 / 2**20)


def test_beyond_the_exact_limit_monte_carlo_is_deterministic_and_says_so() -> None:
    rng = np.random.default_rng(3)
    flips = SignFlip(rng.normal(0.2, 1, EXACT_CLUSTERS + 5), np.ones(EXACT_CLUSTERS + 5))
    again = SignFlip(flips.totals.copy(), flips.sizes.copy())
    assert not flips.exact and f"{RESAMPLES:,} resamples" in flips.method
    assert flips.p_value(0.0) == again.p_value(0.0)
    assert flips.p_value(50.0) == pytest.approx(2 / (RESAMPLES + 1), rel=0.01)


def test_chance_tests_have_defined_answers() -> None:
    with pytest.raises(ValueError, match="NaN"):
        chance_test([0.1, float("nan"), 0.3])
    assert np.isnan(chance_test([2.0, 3.0], ["f1", "f1"]))  # one cluster: no test
    assert chance_test([0.1, 0.5, 0.2, 0.9, 0.4]) == pytest.approx(2 / 32)  # 5 clusters: the smallest p


def test_under_exchangeable_nulls_the_exact_test_holds_its_level() -> None:
    """The chance test's null is exchangeability (a contrast as likely + as -): 2,000 data sets of
    14 clusters, t3 contrasts; Monte Carlo SE of a 0.05 rejection rate about 0.005."""
    rng = np.random.default_rng(6)
    rejected = 0
    for _ in range(2000):
        values = continuous(rng, "t3", 0.3, 14, 5) * rng.choice([-1, 1])
        rejected += chance_test(values, np.repeat(np.arange(14), 5)) <= 0.05
    assert 0.035 <= rejected / 2000 <= 0.06, rejected / 2000
