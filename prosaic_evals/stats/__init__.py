"""Intervals, paired comparisons, equivalence and power for clustered scores."""

from prosaic_evals.stats._intervals import Interval, mean_interval, proportion_interval, score_interval
from prosaic_evals.stats._paired import PairedResult, adjust, chance_test, compare_paired, verdict
from prosaic_evals.stats._pooled import Pooled, pool, pool_crossed
from prosaic_evals.stats._power import BinaryDesign, binary_mde, binary_n_needed, binary_power, mde, n_needed
from prosaic_evals.stats._signflip import SignFlip

__all__ = [
    "BinaryDesign",
    "Interval",
    "PairedResult",
    "Pooled",
    "SignFlip",
    "adjust",
    "binary_mde",
    "binary_n_needed",
    "binary_power",
    "chance_test",
    "compare_paired",
    "mde",
    "mean_interval",
    "n_needed",
    "pool",
    "pool_crossed",
    "proportion_interval",
    "score_interval",
    "verdict",
]
