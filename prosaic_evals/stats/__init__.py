"""Intervals and paired statistics, thin over scipy and statsmodels."""

from prosaic_evals.stats._intervals import (
    Interval,
    cluster_variance_of_mean,
    mean_interval,
    proportion_interval,
    score_interval,
    wilson,
)

__all__ = ["Interval", "cluster_variance_of_mean", "mean_interval", "proportion_interval", "score_interval", "wilson"]
