"""The cluster sign-flip test of a mean, exact where enumeration is cheap, and its interval.

Cluster g contributes a total D_g over n_g items; the estimate is sum(D) / sum(n). Under
H0: mean = t, each cluster's residual D_g - t * n_g is symmetric about 0, so flipping the signs
of whole clusters leaves the data's distribution unchanged. Flipping a set A of clusters moves
the statistic past the observed one exactly when the mean of A, sum_A D / sum_A n, lies on the
far side of t. So the p-value at every t is a count among the 2^G - 1 subset means, and the
interval's ends are two of them (Hartigan 1969): one sorted array answers every test, interval
and equivalence bound, exactly and deterministically.

Up to EXACT_CLUSTERS clusters all subsets are enumerated (meet in the middle); beyond, a fixed
seeded sample of RESAMPLES random sign patterns stands in for them, so p can go as low as
1 / (RESAMPLES + 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

EXACT_CLUSTERS = 20
RESAMPLES = 2**18 - 1


@dataclass(frozen=True)
class SignFlip:
    totals: np.ndarray
    sizes: np.ndarray

    @property
    def clusters(self) -> int:
        return len(self.totals)

    @property
    def exact(self) -> bool:
        return self.clusters <= EXACT_CLUSTERS

    @property
    def method(self) -> str:
        if self.exact:
            return f"cluster sign-flip, exact ({2**self.clusters:,} patterns)"
        return f"cluster sign-flip, Monte Carlo ({RESAMPLES:,} resamples)"

    @cached_property
    def _means(self) -> tuple[np.ndarray, int, int]:
        """Sorted means of the flipped sets, the patterns that flip nothing, and the number of patterns."""
        if self.exact:
            half = self.clusters // 2
            totals = np.add.outer(_subset_sums(self.totals[:half]), _subset_sums(self.totals[half:])).ravel()
            sizes = np.add.outer(_subset_sums(self.sizes[:half]), _subset_sums(self.sizes[half:])).ravel()
            return np.sort(totals[1:] / sizes[1:]), 1, 2**self.clusters
        rng = np.random.default_rng(0)  # fixed: the same data always give the same p
        means, empty = [], 1  # the observed pattern itself counts once
        for start in range(0, RESAMPLES, 2**16):
            flips = rng.integers(0, 2, (min(2**16, RESAMPLES - start), self.clusters)).astype(float)
            sizes = flips @ self.sizes
            empty += int((sizes == 0).sum())
            means.append((flips @ self.totals)[sizes > 0] / sizes[sizes > 0])
        return np.sort(np.concatenate(means)), empty, RESAMPLES + 1

    def p_greater(self, t: float) -> float:
        """One-sided p against H0: mean <= t (small when the mean is above t)."""
        means, empty, total = self._means
        return (empty + int(np.searchsorted(means, t, side="right"))) / total

    def p_less(self, t: float) -> float:
        """One-sided p against H0: mean >= t."""
        means, empty, total = self._means
        return (empty + len(means) - int(np.searchsorted(means, t, side="left"))) / total

    def p_value(self, t: float = 0.0) -> float:
        """Two-sided (equal-tailed) p of H0: mean = t; the interval excludes t exactly when p <= alpha."""
        return min(1.0, 2 * min(self.p_greater(t), self.p_less(t)))

    def interval(self, alpha: float = 0.05) -> tuple[float, float]:
        """Every t whose two-sided p exceeds alpha; infinite where too few clusters can reject anything."""
        means, empty, total = self._means
        # the K-th smallest mean is the first t with p_greater(t) > alpha / 2
        k = int(np.floor(alpha / 2 * total - empty)) + 1
        if k < 1 or k > len(means):
            return -np.inf, np.inf
        return float(means[k - 1]), float(means[len(means) - k])


def _subset_sums(values: np.ndarray) -> np.ndarray:
    sums = np.zeros(1)
    for v in values:
        sums = np.concatenate([sums, sums + v])
    return sums
