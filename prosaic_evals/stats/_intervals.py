"""95% intervals for one model's score on one condition.

Items that share a cluster (a fact, an entity) are correlated, and epochs of one item are
repeated measures, so neither counts as independent. Proportions use the beta-binomial profile
likelihood (`_betabinomial.py`), which stays inside [0, 1], is monotone in the data and covers
near 0 and 1 with few clusters; means use Hall's skewness-corrected t on the cluster means
(`_skewt.py`), kept inside the range of the observed item means. Coverage is checked by
simulation in tests/stats and analysis/stats_coverage.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from prosaic_evals.stats._betabinomial import profile
from prosaic_evals.stats._data import clustered
from prosaic_evals.stats._signflip import SignFlip
from prosaic_evals.stats._skewt import SkewT


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    n: int
    """Items (an item's epochs count once)."""

    clusters: int
    method: str
    epochs: float = 1.0
    p_zero: float = float("nan")
    """For exchangeable contrasts: the exact sign-flip p that the mean is 0 (the chance-level test)."""


def proportion_interval(
    values: Sequence[float], clusters: Sequence[object] | None = None, *, items: Sequence[object] | None = None,
    alpha: float = 0.05,
) -> Interval:  # fmt: skip
    """Interval for the share of 1s in `values` (0/1); every epoch is a trial of its item's cluster."""
    data = clustered(values, clusters, items)
    k, m = data.trials()
    low, high = profile(k, m).interval(alpha)
    method = "beta-binomial profile" if data.n_clusters >= 2 else "one cluster: no interval"
    return Interval(float(k.sum() / m.sum()), low, high, data.n_items, data.n_clusters, method, data.epochs)


def mean_interval(
    values: Sequence[float], clusters: Sequence[object] | None = None, *, items: Sequence[object] | None = None,
    alpha: float = 0.05, exchangeable: bool = False,
) -> Interval:  # fmt: skip
    """Interval for the mean of `values`: Hall's skewness-corrected t on clusters (epochs averaged per item).

    `exchangeable`: the values are paired contrasts whose null is "as likely + as -" (a chance-level
    test); the interval then inverts the exact cluster sign-flip test that `chance_test` reports, so
    the two agree. Without variation between clusters there is no interval (NaN; the method says why).
    """
    data = clustered(values, clusters, items)
    totals, sizes = data.cluster_totals()
    test: SkewT | SignFlip = SignFlip(totals, sizes) if exchangeable else SkewT(totals, sizes)
    low, high = test.interval(alpha) if data.n_clusters >= 2 else (np.nan, np.nan)
    method = test.method
    if not (np.isfinite(low) and np.isfinite(high)):
        low, high = np.nan, np.nan
        if exchangeable:
            method = f"{method}: too few clusters ({data.n_clusters}) for an interval"
    low, high = clip((low, high), data.item_means())
    p_zero = test.p_value(0.0) if exchangeable and data.n_clusters >= 2 else float("nan")
    return Interval(float(totals.sum() / sizes.sum()), low, high, data.n_items, data.n_clusters, method, data.epochs,
                    p_zero)  # fmt: skip


def clip(interval: tuple[float, float], values: np.ndarray) -> tuple[float, float]:
    """An interval for a mean cannot leave the range its values span."""
    low, high = interval
    if not (np.isfinite(low) and np.isfinite(high)):
        return float("nan"), float("nan")
    return max(float(low), float(values.min())), min(float(high), float(values.max()))


def score_interval(
    values: Sequence[float], clusters: Sequence[object] | None = None, *, items: Sequence[object] | None = None,
    alpha: float = 0.05, exchangeable: bool = False,
) -> Interval:  # fmt: skip
    """Proportion interval for 0/1 scores, mean interval otherwise (see `mean_interval` for `exchangeable`)."""
    if exchangeable or not np.isin(np.asarray(values, dtype=float), (0.0, 1.0)).all():
        return mean_interval(values, clusters, items=items, alpha=alpha, exchangeable=exchangeable)
    return proportion_interval(values, clusters, items=items, alpha=alpha)
