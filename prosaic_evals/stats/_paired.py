"""Paired comparison of two models on identical items.

Differences are `model - baseline`, item by item. Items that share a cluster
(a fact) are not independent, so every procedure has a clustered form that
reduces to the textbook one when each cluster holds one item:

- binary scores: Newcombe's (1998, method 10) interval for a paired difference of
  proportions, with counts scaled to the design-effect-adjusted sample size;
  McNemar's exact test (statsmodels) on independent items, and on clustered
  items the exact analogue that respects clusters: a sign-flip permutation of
  the per-cluster differences (scipy), which equals McNemar's exact test when
  clusters have one item;
- continuous scores: the mean difference with a cluster-robust standard error
  (t on clusters - 1 df) and a paired sign-flip permutation test (scipy);
- the minimum detectable effect at 80% power, from statsmodels' t-test power
  at the number of clusters and the observed standard error.

tests/stats/test_paired.py checks coverage and false-positive rates by simulation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as st

from prosaic_evals.stats._intervals import cluster_variance_of_mean, wilson

ALPHA = 0.05
POWER = 0.8


@dataclass(frozen=True)
class PairedResult:
    n: int
    clusters: int
    baseline: float
    model: float
    difference: float
    ci_low: float
    ci_high: float
    ci_method: str
    p_value: float
    test: str
    mde: float
    """Smallest |difference| this design detects with 80% power at alpha 0.05."""

    se: float
    """Standard error of the difference (cluster-robust when items share clusters)."""

    effects: dict[str, float] = field(default_factory=dict)


def compare_paired(
    model: Sequence[float],
    baseline: Sequence[float],
    clusters: Sequence[str] | None = None,
    *,
    n_resamples: int = 9999,
    seed: int = 0,
) -> PairedResult:
    """Paired comparison; binary when every value is 0 or 1."""
    x, y = np.asarray(model, dtype=float), np.asarray(baseline, dtype=float)
    groups = np.asarray(clusters if clusters is not None else [str(i) for i in range(len(x))])
    if len(x) != len(y) or len(x) != len(groups):
        raise ValueError("model, baseline and clusters must have one value per item")
    binary = bool(np.isin(x, (0.0, 1.0)).all() and np.isin(y, (0.0, 1.0)).all())
    return (_binary if binary else _continuous)(x, y, groups, n_resamples, seed)


def chance_test(
    values: Sequence[float], clusters: Sequence[str] | None = None, *, n_resamples: int = 9999, seed: int = 0
) -> float:
    """Two-sided p-value that paired per-item contrasts (e.g. log P(correct) - log P(shuffled)) average 0.

    The sign-flip permutation test of the paired comparison, with whole clusters flipped.
    """
    x = np.asarray(values, dtype=float)
    groups = np.asarray(clusters if clusters is not None else [str(i) for i in range(len(x))])
    return _sign_flip(x, np.zeros_like(x), groups, n_resamples, seed)


def _binary(x: np.ndarray, y: np.ndarray, groups: np.ndarray, n_resamples: int, seed: int) -> PairedResult:
    from statsmodels.stats.contingency_tables import mcnemar

    n, g = len(x), len(np.unique(groups))
    a, b = int(((x == 1) & (y == 1)).sum()), int(((x == 1) & (y == 0)).sum())
    c, d = int(((x == 0) & (y == 1)).sum()), int(((x == 0) & (y == 0)).sum())
    n_eff = _effective_n(x - y, groups)
    low, high = newcombe_paired(a, b, c, d, n_eff=n_eff)
    p_items = float(mcnemar([[a, b], [c, d]], exact=True).pvalue)
    if g == n:
        p, test = p_items, "McNemar exact"
    else:
        p, test = _sign_flip(x, y, groups, n_resamples, seed), f"cluster sign-flip ({g} clusters)"
    p1, p2 = float(x.mean()), float(y.mean())
    odds = (b + 0.5) / (c + 0.5) if min(b, c) == 0 else b / c  # Haldane's correction when a cell is empty
    effects = {
        "risk_difference": p1 - p2,
        "cohens_h": float(2 * np.arcsin(np.sqrt(p1)) - 2 * np.arcsin(np.sqrt(p2))),
        "discordant_odds_ratio": odds,
        "model_only": b,
        "baseline_only": c,
        "p_mcnemar_items": p_items,
    }
    se = _se_difference(x - y, groups) or float(np.sqrt(2 * _floor((p1 + p2) / 2, n_eff) / n_eff))
    method = "Newcombe paired" + ("" if g == n else f", clustered (n_eff {n_eff:.0f})")
    return PairedResult(n, g, p2, p1, p1 - p2, low, high, method, p, test, _mde(se, g), se, effects)


def _continuous(x: np.ndarray, y: np.ndarray, groups: np.ndarray, n_resamples: int, seed: int) -> PairedResult:
    n, g = len(x), len(np.unique(groups))
    diff = x - y
    mean = float(diff.mean())
    se = _se_difference(diff, groups)
    half = float(st.t.ppf(1 - ALPHA / 2, df=max(g - 1, 1))) * se
    sd = float(diff.std(ddof=1)) if n > 1 else float("nan")
    effects = {"mean_difference": mean, "cohens_dz": mean / sd if sd > 0 else float("nan")}
    test = "paired sign-flip" + ("" if g == n else f" ({g} clusters)")
    p = _sign_flip(x, y, groups, n_resamples, seed)
    method = "t" + ("" if g == n else ", clustered")
    return PairedResult(n, g, float(y.mean()), float(x.mean()), mean, mean - half, mean + half, method, p, test,
                        _mde(se, g), se, effects)  # fmt: skip


def newcombe_paired(a: float, b: float, c: float, d: float, *, n_eff: float | None = None) -> tuple[float, float]:
    """Newcombe's (1998) method 10 interval for p(model) - p(baseline) from a paired 2x2 table.

    a: both right, b: model only, c: baseline only, d: neither. With `n_eff`, the
    counts are rescaled to that effective sample size (for clustered items).
    """
    n = a + b + c + d
    scale = (n_eff / n) if n_eff else 1.0
    a, b, c, d = (v * scale for v in (a, b, c, d))
    m = a + b + c + d
    p1, p2 = (a + b) / m, (a + c) / m
    l1, u1 = wilson(a + b, m)
    l2, u2 = wilson(a + c, m)
    denominator = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / np.sqrt(denominator) if denominator > 0 else 0.0
    diff = p1 - p2
    low = diff - np.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
    high = diff + np.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0.0))
    return float(max(low, -1.0)), float(min(high, 1.0))


def adjust(p_values: Sequence[float], method: str) -> list[float]:
    """Holm (`holm`) or Benjamini-Hochberg (`bh`) across a family; `none` leaves them."""
    if method == "none" or not p_values:
        return list(p_values)
    from statsmodels.stats.multitest import multipletests

    return [float(p) for p in multipletests(p_values, alpha=ALPHA, method={"holm": "holm", "bh": "fdr_bh"}[method])[1]]


def _sign_flip(x: np.ndarray, y: np.ndarray, groups: np.ndarray, n_resamples: int, seed: int) -> float:
    """Paired permutation test of mean(x - y) = 0, swapping x and y within whole clusters."""
    _, inverse = np.unique(groups, return_inverse=True)
    xs, ys = np.bincount(inverse, weights=x), np.bincount(inverse, weights=y)
    if len(xs) < 2 or np.allclose(xs, ys):
        return 1.0  # one cluster: its two sign patterns are equally extreme
    result = st.permutation_test(
        (xs, ys), lambda a, b, axis: np.mean(a - b, axis=axis), permutation_type="samples",
        vectorized=True, n_resamples=n_resamples, rng=np.random.default_rng(seed),
    )  # fmt: skip
    return float(result.pvalue)


def _se_difference(diff: np.ndarray, groups: np.ndarray) -> float:
    if len(diff) < 2 or np.allclose(diff, diff[0]):
        return 0.0
    if len(np.unique(groups)) == len(diff):
        return float(diff.std(ddof=1) / np.sqrt(len(diff)))
    return float(np.sqrt(cluster_variance_of_mean(diff, groups)))


def _effective_n(diff: np.ndarray, groups: np.ndarray) -> float:
    """n divided by the design effect of the paired differences (G when it cannot be estimated)."""
    n, g = len(diff), len(np.unique(groups))
    if g == n or g < 2:
        return float(g)
    iid = diff.var(ddof=1) / n if n > 1 else 0.0
    if iid <= 0:
        return float(g)
    return n / min(max(cluster_variance_of_mean(diff, groups) / iid, 1.0), n / g)


def _floor(p: float, n: float) -> float:
    """p(1 - p), kept away from 0 so a design with no variation still gets a finite MDE."""
    p = min(max(p, 0.5 / n), 1 - 0.5 / n)
    return p * (1 - p)


def n_needed(se: float, n: int, clusters: int, effect: float) -> float:
    """Items needed to detect a difference of `effect` with 80% power at alpha 0.05.

    The per-cluster spread is taken from this design (se * sqrt(clusters)) and the
    items per cluster kept as they are; statsmodels solves the t-test for the clusters.
    """
    from statsmodels.stats.power import TTestPower

    if se <= 0 or clusters < 2 or effect <= 0:
        return float("nan")
    standardized = effect / (se * np.sqrt(clusters))
    # the smallest whole number of clusters with 80% power (the solver fails at very small n)
    guess = int(np.ceil((st.norm.ppf(1 - ALPHA / 2) + st.norm.ppf(POWER)) ** 2 / standardized**2))
    candidates = np.arange(2, 2 * guess + 10)
    reached = TTestPower().power(effect_size=standardized, nobs=candidates, alpha=ALPHA) >= POWER
    return float(candidates[int(np.argmax(reached))] * n / clusters)


def _mde(se: float, clusters: int) -> float:
    from statsmodels.stats.power import TTestPower

    if se <= 0 or clusters < 2:
        return float("nan")
    effect = TTestPower().solve_power(effect_size=None, nobs=clusters, alpha=ALPHA, power=POWER)
    return float(effect * se * np.sqrt(clusters))
