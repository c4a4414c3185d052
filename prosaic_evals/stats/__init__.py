"""Intervals and paired statistics, thin over scipy and statsmodels."""

from prosaic_evals.stats._intervals import (
    Interval,
    cluster_variance_of_mean,
    mean_interval,
    proportion_interval,
    score_interval,
    wilson,
)
from prosaic_evals.stats._paired import PairedResult, adjust, chance_test, compare_paired, n_needed, newcombe_paired

__all__ = [
    "Interval",
    "PairedResult",
    "adjust",
    "chance_test",
    "cluster_variance_of_mean",
    "compare_paired",
    "mean_interval",
    "n_needed",
    "newcombe_paired",
    "proportion_interval",
    "score_interval",
    "wilson",
]
