"""`n_needed`: at the n it asks for, a simulated experiment has about 80% power."""

from __future__ import annotations

import numpy as np
from scipy import stats as st

from prosaic_evals.stats import compare_paired, n_needed


def _cluster_diffs(rng: np.random.Generator, clusters: int, per: int, effect: float) -> tuple[np.ndarray, list[str]]:
    """Paired differences: a shared cluster shift (sd 0.5) plus item noise (sd 1)."""
    shifts = np.repeat(rng.normal(0, 0.5, clusters), per)
    diffs = effect + shifts + rng.normal(0, 1, clusters * per)
    return diffs, [str(c) for c in np.repeat(np.arange(clusters), per)]


def test_n_needed_gives_80_percent_power_for_clustered_items() -> None:
    rng = np.random.default_rng(0)
    per, effect = 4, 0.2
    pilot, groups = _cluster_diffs(rng, 300, per, 0.0)
    result = compare_paired(pilot, np.zeros_like(pilot), groups, n_resamples=99)
    items = n_needed(result.se, result.n, result.clusters, effect)
    clusters = int(items // per)
    assert 40 < clusters < 400  # a design that needs more clusters than the pilot has is not this test's case

    hits = 0
    for _ in range(600):
        diffs, _ = _cluster_diffs(rng, clusters, per, effect)
        means = diffs.reshape(clusters, per).mean(axis=1)  # the cluster-level t test the power refers to
        hits += st.ttest_1samp(means, 0.0).pvalue < 0.05
    assert 0.74 <= hits / 600 <= 0.86


def test_n_needed_shrinks_with_the_effect_and_is_undefined_without_spread() -> None:
    rng = np.random.default_rng(1)
    diffs, groups = _cluster_diffs(rng, 50, 2, 0.0)
    result = compare_paired(diffs, np.zeros_like(diffs), groups, n_resamples=99)
    small, large = (n_needed(result.se, result.n, result.clusters, e) for e in (0.1, 0.4))
    assert small > 4 * large * 0.9  # n scales with 1 / effect^2
    assert np.isnan(n_needed(0.0, 100, 50, 0.1))
    assert n_needed(result.se, result.n, result.clusters, 5.0) >= 2 * result.n / result.clusters
