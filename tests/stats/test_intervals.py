"""Intervals against statsmodels/scipy on fixed data, and coverage by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st
from statsmodels.stats.proportion import proportion_confint

from prosaic_evals.stats import mean_interval, proportion_interval, score_interval


def test_independent_items_get_the_plain_wilson_and_t_intervals() -> None:
    values = [1.0] * 7 + [0.0] * 13
    interval = proportion_interval(values)
    assert (interval.low, interval.high) == pytest.approx(proportion_confint(7, 20, method="wilson"))
    assert interval.method == "Wilson"
    x = [0.3, -1.2, 2.5, 0.8, 1.1, -0.4]
    t = mean_interval(x)
    expected = st.t.interval(0.95, df=5, loc=np.mean(x), scale=st.sem(x))
    assert (t.low, t.high) == pytest.approx(expected)


def test_score_interval_picks_by_the_kind_of_score() -> None:
    assert score_interval([1.0, 0.0, 1.0]).method == "Wilson"
    assert score_interval([1.5, 0.0, 1.0]).method == "t"


def test_clustered_intervals_are_wider_when_clusters_move_together() -> None:
    clusters = [f"fact{i // 10}" for i in range(100)]
    together = [float(i // 10 % 2) for i in range(100)]  # whole facts right or wrong
    clustered, naive = proportion_interval(together, clusters), proportion_interval(together)
    assert clustered.high - clustered.low > 2 * (naive.high - naive.low)
    assert clustered.clusters == 10
    all_wrong = proportion_interval([0.0] * 100, clusters)
    assert all_wrong.low == 0.0 and all_wrong.high == pytest.approx(proportion_confint(0, 10, method="wilson")[1])


def coverage(draw: object, estimator: object, truth: float, runs: int = 2000, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(runs):
        values, clusters = draw(rng)  # type: ignore[operator]
        interval = estimator(values, clusters)  # type: ignore[operator]
        hits += interval.low <= truth <= interval.high
    return hits / runs


@pytest.mark.parametrize("icc", [0.0, 0.3])
def test_clustered_proportions_cover_at_the_nominal_rate(icc: float) -> None:
    # 30 facts x 5 templates, the reversal-curse shape; a fact's probability varies (beta)
    p, facts, per = 0.3, 30, 5

    def draw(rng: np.random.Generator) -> tuple[list[float], list[str]]:
        if icc > 0:
            a = p * (1 - icc) / icc
            fact_p = rng.beta(a, a * (1 - p) / p, size=facts)
        else:
            fact_p = np.full(facts, p)
        values = (rng.random((facts, per)) < fact_p[:, None]).astype(float).ravel()
        return list(values), [f"f{i}" for i in range(facts) for _ in range(per)]

    rate = coverage(draw, proportion_interval, p)
    assert 0.93 <= rate <= 0.975, rate  # nominal 0.95; 2,000 runs give a standard error of 0.005


def test_cluster_robust_means_cover_at_the_nominal_rate() -> None:
    facts, per = 30, 5

    def draw(rng: np.random.Generator) -> tuple[list[float], list[str]]:
        effects = rng.normal(0, 1.0, size=facts)
        values = (effects[:, None] + rng.normal(0, 2.0, size=(facts, per))).ravel()
        return list(values), [f"f{i}" for i in range(facts) for _ in range(per)]

    rate = coverage(draw, mean_interval, 0.0)
    assert 0.93 <= rate <= 0.97, rate
    naive = coverage(draw, lambda v, c: mean_interval(v), 0.0)
    assert naive < 0.92  # ignoring the clusters would overstate precision
