"""Paired comparisons: fixed tables against statsmodels/scipy, and behaviour by simulation
(2,000 data sets per case, 30 facts x 5 templates, the reversal-curse shape)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from prosaic_evals.stats import adjust, chance_test, compare_paired, newcombe_paired

FACTS, PER = 30, 5
CLUSTERS = [f"f{i}" for i in range(FACTS) for _ in range(PER)]
RUNS = 2000


def test_unclustered_binary_uses_mcnemar_exact() -> None:
    x = [1] * 12 + [0] * 3 + [1] * 20 + [0] * 15
    y = [0] * 12 + [1] * 3 + [1] * 20 + [0] * 15
    result = compare_paired(x, y)
    assert result.test == "McNemar exact"
    assert result.p_value == pytest.approx(mcnemar([[20, 12], [3, 15]], exact=True).pvalue)
    assert result.difference == pytest.approx(9 / 50)
    assert result.effects["discordant_odds_ratio"] == pytest.approx(4.0)
    assert result.effects["cohens_h"] == pytest.approx(2 * np.arcsin(np.sqrt(0.64)) - 2 * np.arcsin(np.sqrt(0.46)))


def test_the_cluster_test_is_mcnemar_when_clusters_have_one_item() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 2, 12), rng.integers(0, 2, 12)
    items = compare_paired(x, y)
    singletons = compare_paired(x, y, [f"c{i}" for i in range(12)] + [])
    assert singletons.p_value == items.p_value
    # with singleton clusters given explicitly the permutation test is exact: equal to McNemar
    from prosaic_evals.stats._paired import _sign_flip

    assert _sign_flip(x.astype(float), y.astype(float), np.arange(12).astype(str), 9999, 0) == pytest.approx(
        items.effects["p_mcnemar_items"]
    )


def test_newcombe_interval_properties() -> None:
    low, high = newcombe_paired(20, 12, 3, 15)
    assert low < 9 / 50 < high
    assert newcombe_paired(0, 0, 0, 50) == pytest.approx((-0.0713, 0.0713), abs=1e-3)  # both always wrong
    wide = newcombe_paired(20, 12, 3, 15, n_eff=10)
    assert wide[0] < low and wide[1] > high


def test_adjustment_matches_statsmodels() -> None:
    p = [0.01, 0.04, 0.03, 0.2]
    assert adjust(p, "holm") == pytest.approx(multipletests(p, method="holm")[1])
    assert adjust(p, "bh") == pytest.approx(multipletests(p, method="fdr_bh")[1])
    assert adjust(p, "none") == p


def simulate(draw: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]], check: Callable[..., bool]) -> float:
    rng = np.random.default_rng(0)
    hits = 0
    for run in range(RUNS):
        x, y = draw(rng)
        hits += check(compare_paired(x, y, CLUSTERS, n_resamples=499, seed=run))
    return hits / RUNS


def clustered_binary(
    rng: np.random.Generator, effect: float = 0.0, spread: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Fact-level accuracy p_k; each model may also lean on a fact (spread): correlated differences."""
    p = rng.beta(2, 3, FACTS)
    lean = rng.normal(0, spread, FACTS)
    px = np.clip(p + effect + lean, 0, 1).repeat(PER)
    py = np.clip(p - lean, 0, 1).repeat(PER)
    return (rng.random(FACTS * PER) < px).astype(float), (rng.random(FACTS * PER) < py).astype(float)


def test_cluster_test_holds_its_false_positive_rate_where_mcnemar_does_not() -> None:
    def draw(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return clustered_binary(rng, spread=0.15)

    ours = simulate(draw, lambda r: r.p_value < 0.05)
    naive = simulate(draw, lambda r: r.effects["p_mcnemar_items"] < 0.05)
    assert 0.03 <= ours <= 0.07, ours  # nominal 0.05; SE of a rate from 2,000 runs is 0.005
    assert naive > 0.08, naive  # item-level McNemar ignores the clusters (measured: about 0.10)


def test_clustered_newcombe_interval_covers() -> None:
    def draw(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x, y = clustered_binary(rng, effect=0.15, spread=0.1)
        return x, y

    # the true difference of the simulated design (clipping at 0 and 1 shifts it slightly)
    rng = np.random.default_rng(99)
    truth = np.mean([np.subtract(*clustered_binary(rng, effect=0.15, spread=0.1)).mean() for _ in range(20000)])
    rate = simulate(draw, lambda r: r.ci_low <= truth <= r.ci_high)
    assert 0.93 <= rate <= 0.98, rate


def clustered_continuous(rng: np.random.Generator, effect: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    shared = rng.normal(0, 2, FACTS).repeat(PER)
    lean = rng.normal(0, 0.8, FACTS).repeat(PER)  # differences correlated within a fact
    y = shared + rng.normal(0, 1, FACTS * PER)
    return y + effect + lean + rng.normal(0, 1, FACTS * PER), y


def test_continuous_paired_test_and_interval_under_the_null() -> None:
    rate = simulate(clustered_continuous, lambda r: r.p_value < 0.05)
    assert 0.03 <= rate <= 0.07, rate
    coverage = simulate(clustered_continuous, lambda r: r.ci_low <= 0.0 <= r.ci_high)
    assert 0.93 <= coverage <= 0.97, coverage


def test_an_effect_of_one_mde_is_found_about_80_percent_of_the_time() -> None:
    rng = np.random.default_rng(5)
    mde = float(
        np.median([compare_paired(*clustered_continuous(rng), CLUSTERS, n_resamples=99).mde for _ in range(200)])
    )
    power = simulate(lambda g: clustered_continuous(g, effect=mde), lambda r: r.p_value < 0.05)
    assert 0.72 <= power <= 0.88, power


def test_the_chance_test_holds_its_rate_on_clustered_contrasts_and_finds_a_shift() -> None:
    """Two-hop's chance-level test: contrasts (correct minus shuffled answers) whose mean is 0."""
    rng = np.random.default_rng(3)

    def contrasts(shift: float) -> np.ndarray:
        return shift + rng.normal(0, 1.0, FACTS).repeat(PER) + rng.normal(0, 1.0, FACTS * PER)

    null = np.mean([chance_test(contrasts(0.0), CLUSTERS, n_resamples=499, seed=i) < 0.05 for i in range(RUNS)])
    assert 0.03 <= null <= 0.07, null
    assert chance_test(contrasts(1.5), CLUSTERS) < 0.01
    assert chance_test([1.0, -1.0, 2.0, -2.0]) == 1.0  # symmetric: no evidence either way


def test_one_cluster_gives_no_evidence_instead_of_an_error() -> None:
    assert chance_test([2.0, 3.0], ["f1", "f1"]) == 1.0
    one = compare_paired([1.0, 2.0], [0.0, 0.0], ["f1", "f1"])
    assert one.p_value == 1.0 and np.isnan(one.ci_low) and np.isnan(one.mde)
