"""Beta-binomial profile likelihood for a proportion measured on clusters of items.

A cluster g has m_g trials (items x epochs) and k_g successes. Its success rate varies between
clusters around the mean mu with intraclass correlation rho (beta-binomial), so the data say how
much clustering there is instead of a design effect being plugged in. The interval for mu is the
set where the profile deviance (rho maximised out) stays under F(1, G - 1), the small-sample
calibration of a likelihood-ratio interval with G clusters. Likelihoods are computed on a grid
from the counts of each (successes, trials) pair, as one matrix product, so many data sets (a
power simulation) cost little more than one.

Why this method (simulated in tests/stats and analysis/stats_coverage.py): Wilson's interval on
a design-effect-adjusted n under-covers near 0 and 1 because a design effect estimated from a
handful of successes is far too small; the profile likelihood lets a strongly clustered
explanation of the same few successes widen the interval. Monotone in the data by construction
(see `_monotone`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import special
from scipy import stats as st

MU = special.expit(np.linspace(-13.0, 13.0, 1301))
"""The grid of mean rates (logit scale: fine near 0 and 1, where intervals are short)."""

RHO = special.expit(np.linspace(special.logit(1e-5), special.logit(0.995), 90))
"""The grid of intraclass correlations; 1e-5 is indistinguishable from independent items."""


COARSE = (slice(None, None, 6), slice(None, None, 6))
"""Every 6th mean and correlation: the grid of power simulations (thousands of data sets). It moves a
rejection rate by less than its Monte Carlo error (tests/stats/test_paired_binary.py checks the power
it finds against the full-grid test)."""


def grid(coarse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The (mu, rho) grid the likelihood is computed on."""
    return (MU[COARSE[0]], RHO[COARSE[1]]) if coarse else (MU, RHO)


@lru_cache(maxsize=256)
def _pair(k: int, m: int, coarse: bool) -> np.ndarray:
    """log P(k of m | mu, rho) without the binomial coefficient, over the (mu x rho) grid."""
    mu, rho = grid(coarse)
    s = ((1 - rho) / rho)[None, :]
    a, b = (mu[:, None] * s).ravel(), ((1 - mu)[:, None] * s).ravel()
    return np.asarray(special.betaln(k + a, m - k + b) - special.betaln(a, b))


def loglik(k: np.ndarray, m: np.ndarray, coarse: bool = False) -> np.ndarray:
    """(data sets, mu, rho) log-likelihoods: k, m are (data sets, clusters) arrays.

    The likelihood depends on the data only through how many clusters show each (k, m) pair, so
    every data set is a row of pair counts and all of them are one matrix product (each pair's row
    is computed once and cached: pairs recur across data sets and calls).
    """
    k, m = np.atleast_2d(k).astype(np.int64), np.atleast_2d(m).astype(np.int64)
    base = int(m.max(initial=0)) + 1
    codes, index = np.unique((m * base + k).ravel(), return_inverse=True)  # one integer per (k, m) pair
    sets = np.repeat(np.arange(len(k)), k.shape[1])
    counts = np.bincount(sets * len(codes) + index.ravel(), minlength=len(k) * len(codes))
    # power simulations (coarse) run in single precision: deviances to about 1e-4, far inside their noise
    dtype = np.float32 if coarse else np.float64
    weights: np.ndarray = counts.reshape(len(k), len(codes)).astype(dtype)
    rows: np.ndarray = np.stack([_pair(int(c % base), int(c // base), coarse) for c in codes]).astype(dtype)
    mu, rho = grid(coarse)
    return np.asarray(weights @ rows).reshape(len(k), len(mu), len(rho))


def deviance(k: np.ndarray, m: np.ndarray, coarse: bool = False) -> np.ndarray:
    """Profile deviance (rho maximised out) over the mu grid for each data set."""
    profile = loglik(k, m, coarse).max(axis=2)
    return np.asarray(2 * (profile.max(axis=1, keepdims=True) - profile))


def rho_bounds(k: np.ndarray, m: np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    """Likelihood interval of the intraclass correlation (mu maximised out; chi-square(1))."""
    profile = loglik(k, m).max(axis=1)[0]
    inside = RHO[2 * (profile.max() - profile) <= st.chi2.ppf(1 - alpha, 1)]
    return float(inside.min()), float(inside.max())


def critical(alpha: float | np.ndarray, clusters: int) -> np.ndarray:
    """The deviance a (1 - alpha) interval allows: F(1, G - 1), i.e. a squared t on G - 1 df."""
    return np.asarray(st.f.ppf(1 - np.asarray(alpha), 1, max(clusters - 1, 1)))


def bounds(dev: np.ndarray, crit: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each deviance curve crosses `crit` (linear between grid points); 0 or 1 where it does not."""
    dev = np.atleast_2d(dev)
    mu = MU if dev.shape[1] == len(MU) else grid(coarse=True)[0]
    crit = np.broadcast_to(np.asarray(crit, dtype=float), (len(dev),))[:, None]
    inside = dev <= crit
    first = inside.argmax(axis=1)
    last = dev.shape[1] - 1 - inside[:, ::-1].argmax(axis=1)
    rows = np.arange(len(dev))
    low = _crossing(mu, dev, crit[:, 0], rows, first, first - 1)
    high = _crossing(mu, dev, crit[:, 0], rows, last, last + 1)
    return np.where(first > 0, low, 0.0), np.where(last < dev.shape[1] - 1, high, 1.0)


def _crossing(
    mu: np.ndarray, dev: np.ndarray, crit: np.ndarray, rows: np.ndarray, inner: np.ndarray, outer: np.ndarray
) -> np.ndarray:
    outer = np.clip(outer, 0, dev.shape[1] - 1)
    d_in, d_out = dev[rows, inner], dev[rows, outer]
    share = np.clip((crit - d_in) / np.where(d_out > d_in, d_out - d_in, 1.0), 0.0, 1.0)
    return np.asarray(mu[inner] + share * (mu[outer] - mu[inner]))


@dataclass(frozen=True)
class Profile:
    """One proportion's profile deviance; intervals at any level from it."""

    estimate: float
    clusters: int
    dev: np.ndarray
    floor: np.ndarray
    """Deviance of the same clusters with no success and with no failure (for monotone bounds)."""

    def interval(self, alpha: float = 0.05) -> tuple[float, float]:
        if self.clusters < 2:
            return float("nan"), float("nan")
        crit = critical(alpha, self.clusters)
        low, high = bounds(np.vstack([self.dev, self.floor]), crit)
        # Monotone: no data set of these clusters may bound tighter than all-failure (upper) or all-success
        # (lower) data do; otherwise 1 success in 100 could give a lower upper bound than 0 in 100.
        return float(min(low[0], low[2])), float(max(high[0], high[1]))


def profile(k: np.ndarray, m: np.ndarray) -> Profile:
    """The profile of one data set: successes k and trials m per cluster."""
    k, m = np.asarray(k, dtype=int), np.asarray(m, dtype=int)
    curves = deviance(np.vstack([k, np.zeros_like(k), m]), np.vstack([m, m, m]))
    return Profile(float(k.sum() / m.sum()), len(k), curves[0], curves[1:])


def intervals(k: np.ndarray, m: np.ndarray, alpha: float = 0.05, coarse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Profile.interval for many data sets at once: k is (data sets, clusters), m one row of trials."""
    m = np.asarray(m, dtype=int)
    crit = critical(alpha, k.shape[1])
    low, high = bounds(deviance(k, np.broadcast_to(m, k.shape), coarse), crit)
    floor_low, floor_high = bounds(_floor(m.astype(np.int64).tobytes(), coarse), crit)
    return np.minimum(low, floor_low[1]), np.maximum(high, floor_high[0])


@lru_cache(maxsize=256)
def _floor(trials: bytes, coarse: bool) -> np.ndarray:
    """Deviances of no success and of no failure in clusters of these trials (int64 bytes): the same for
    every data set of a design, so computed once."""
    m = np.frombuffer(trials, dtype=np.int64)
    dev = deviance(np.vstack([np.zeros_like(m), m]), np.vstack([m, m]), coarse)
    dev.setflags(write=False)
    return dev
