"""95% intervals for one model's score on one condition.

Items that share a cluster (a fact, an entity) are correlated, so treating them
as independent overstates precision. Proportions use Wilson's interval with the
sample size deflated by the design effect estimated from cluster-robust
variance (Kish 1965; the approach of Korn & Graubard 1998 for complex
samples); means use a cluster-robust standard error with a t quantile on
G - 1 degrees of freedom. Both are checked for coverage by simulation in
tests/stats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as st


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    n: int
    clusters: int
    method: str


def wilson(successes: float, n: float, *, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval (allows a fractional, design-effect-adjusted n)."""
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return float(low), float(high)


def cluster_variance_of_mean(values: np.ndarray, clusters: np.ndarray) -> float:
    """Cluster-robust (CR1) variance of the sample mean, via statsmodels."""
    import statsmodels.api as sm

    _, groups = np.unique(clusters, return_inverse=True)
    if groups.max(initial=0) < 1:
        return float("nan")  # one cluster: its variance cannot be estimated
    fit = sm.OLS(values, np.ones_like(values)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    return float(fit.bse[0] ** 2)


def proportion_interval(
    values: Sequence[float], clusters: Sequence[str] | None = None, *, alpha: float = 0.05
) -> Interval:
    """Interval for the share of 1s in `values` (0/1)."""
    y = np.asarray(values, dtype=float)
    n = len(y)
    p = float(y.mean())
    groups = len(set(clusters)) if clusters is not None else n
    if groups == n:
        low, high = wilson(p * n, n, alpha=alpha)
        return Interval(p, low, high, n, groups, "Wilson")
    if 0.0 < p < 1.0:
        design_effect = cluster_variance_of_mean(y, np.asarray(clusters)) / (p * (1 - p) / n)
        n_eff = n / min(max(design_effect, 1.0), n / groups)
    else:
        # No variation: the design effect cannot be estimated; assume the worst
        # case (items of a cluster move together), so the effective n is G.
        n_eff = float(groups)
    low, high = wilson(p * n_eff, n_eff, alpha=alpha)
    return Interval(p, low, high, n, groups, f"Wilson, clustered (n_eff {n_eff:.0f})")


def mean_interval(values: Sequence[float], clusters: Sequence[str] | None = None, *, alpha: float = 0.05) -> Interval:
    """Interval for the mean of `values` (t; cluster-robust when items share clusters)."""
    y = np.asarray(values, dtype=float)
    n = len(y)
    mean = float(y.mean())
    groups = len(set(clusters)) if clusters is not None else n
    if n < 2 or groups < 2:
        return Interval(mean, float("nan"), float("nan"), n, groups, "too few items")
    if groups == n:
        se = float(y.std(ddof=1) / np.sqrt(n))
        method = "t"
    else:
        se = float(np.sqrt(cluster_variance_of_mean(y, np.asarray(clusters))))
        method = "t, clustered"
    half = float(st.t.ppf(1 - alpha / 2, df=groups - 1)) * se
    return Interval(mean, mean - half, mean + half, n, groups, method)


def score_interval(values: Sequence[float], clusters: Sequence[str] | None = None, *, alpha: float = 0.05) -> Interval:
    """Proportion interval for 0/1 scores, mean interval otherwise."""
    binary = all(v in (0.0, 1.0) for v in values)
    return (proportion_interval if binary else mean_interval)(values, clusters, alpha=alpha)
