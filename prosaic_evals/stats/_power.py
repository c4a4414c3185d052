"""Minimum detectable effect and items needed, for the test the comparison actually uses.

Binary scores: by simulation of that test (MOVER on beta-binomial intervals). A pilot comparison
gives the design: the baseline rate, the intraclass correlation of its clusters, the correlation
of the two models' latent scores on an item (tetrachoric, from how often both succeed) and the
trials per cluster. Data sets are drawn from a latent-normal model with those values, and the
effect is found by secant steps on the probit of the power, with common random numbers, so the
power curve is smooth in it.
Whether the stated MDE is true is itself tested: a fresh simulation at the MDE rejects 0.78 to
0.82 of the time (tests/stats/test_power.py).

Continuous scores: the cluster-level t test on G - 1 degrees of freedom (statsmodels), which the
skewness-corrected t matches to first order. A pilot knows its spread only roughly, so `n needed`
comes with a range: for binary scores the ends of the intraclass correlation's likelihood
interval, for continuous ones the ends of the spread's 95% chi-square interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize
from scipy import stats as st

from prosaic_evals.stats._betabinomial import intervals

ALPHA = 0.05
POWER = 0.8
SIMS = 4000
"""Data sets per power evaluation: Monte Carlo SE of a power near 0.8 is 0.006."""

NEEDED_SIMS = 1000
"""Per step of the `n needed` search: a planning figure with a range, not a test's property."""


def mover(
    p1: np.ndarray, l1: np.ndarray, u1: np.ndarray, p2: np.ndarray, l2: np.ndarray, u2: np.ndarray, r: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Zou & Donner's (2008) interval for p1 - p2 from the two rates' intervals and their correlation r."""
    low = p1 - p2 - np.sqrt(np.maximum((p1 - l1) ** 2 - 2 * r * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
    high = p1 - p2 + np.sqrt(np.maximum((u1 - p1) ** 2 - 2 * r * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0.0))
    return np.maximum(low, -1.0), np.minimum(high, 1.0)


def residual_correlation(kx: np.ndarray, ky: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Correlation of the two models' cluster residuals (k - rate * m), per data set (rows).

    A positive covariance is reduced by 1/2 first: with one item per cluster this is Newcombe's
    (1998) continuity-corrected phi of method 10, and it keeps two models that agree on every item
    from getting a zero-width interval (no discordant item among 24 does not make the difference 0).
    """
    rx = kx - kx.sum(axis=-1, keepdims=True) / m.sum() * m
    ry = ky - ky.sum(axis=-1, keepdims=True) / m.sum() * m
    scale = np.sqrt((rx**2).sum(axis=-1) * (ry**2).sum(axis=-1))
    cov = (rx * ry).sum(axis=-1)
    cov = np.where(cov > 0, np.maximum(cov - 0.5, 0.0), cov)
    return np.where(scale > 0, cov / np.where(scale > 0, scale, 1.0), 0.0)


def icc(k: np.ndarray, m: np.ndarray) -> float:
    """ANOVA estimate of the intraclass correlation of 0/1 trials in clusters (0 when it cannot be told)."""
    n, g = m.sum(), len(m)
    p = k.sum() / n
    if g < 2 or p in (0.0, 1.0) or n == g:
        return 0.0
    between = ((k - m * p) ** 2 / m).sum() / (g - 1)
    within = (k - k**2 / m).sum() / (n - g)
    m0 = (n - (m**2).sum() / n) / (g - 1)
    return float(np.clip((between - within) / (between + (m0 - 1) * within), 0.0, 1.0))


@dataclass(frozen=True)
class BinaryDesign:
    baseline: float
    """The baseline model's rate."""

    icc: float
    latent_corr: float
    """Correlation of the two models' latent scores on one item (icc <= it < 1)."""

    trials: tuple[int, ...]
    """Trials (items x epochs) per cluster."""

    @classmethod
    def from_pilot(cls, kx: np.ndarray, ky: np.ndarray, m: np.ndarray, both: float, rho: float) -> BinaryDesign:
        """From a pilot's successes per cluster, the share of trials both models got right, and its icc."""
        p1, p0 = kx.sum() / m.sum(), ky.sum() / m.sum()
        corr = rho
        if 0 < p0 < 1 and 0 < p1 < 1:
            z1, z0 = st.norm.ppf(p1), st.norm.ppf(p0)

            def gap(r: float) -> float:
                cov = [[1.0, r], [r, 1.0]]
                return float(st.multivariate_normal([0, 0], cov).cdf([z1, z0])) - both

            lo, hi = min(rho, 0.99), 0.999  # P(both) grows with the correlation; outside, its nearest end
            if gap(lo) < 0 < gap(hi):
                corr = float(optimize.brentq(gap, lo, hi, xtol=1e-4))
            else:
                corr = hi if gap(hi) <= 0 else lo
        rho = min(rho, 0.99)  # a perfectly clustered pilot: simulate as nearly so
        return cls(round(float(p0), 4), round(rho, 3), round(max(corr, rho), 3), tuple(int(t) for t in m))

    def with_clusters(self, clusters: int) -> BinaryDesign:
        """The same design with more (or fewer) clusters, cycling the pilot's cluster sizes."""
        return BinaryDesign(self.baseline, self.icc, self.latent_corr, tuple(np.resize(self.trials, clusters).tolist()))

    def with_icc(self, rho: float) -> BinaryDesign:
        return BinaryDesign(self.baseline, rho, max(self.latent_corr, rho), self.trials)


class _Simulation:
    """Latent draws for SIMS data sets of one design, reused for every effect size (common random numbers)."""

    def __init__(self, design: BinaryDesign, seed: int, sims: int) -> None:
        rng = np.random.default_rng(seed)
        self.design, self.m = design, np.asarray(design.trials)
        cluster = np.repeat(np.arange(len(self.m)), self.m)
        rho, corr = design.icc, design.latent_corr
        shared = np.sqrt(rho) * rng.standard_normal((sims, len(self.m)))[:, cluster]
        item = np.sqrt(max(corr - rho, 0.0)) * rng.standard_normal((sims, len(cluster)))
        own = np.sqrt(max(1 - corr, 0.0))
        self.x = shared + item + own * rng.standard_normal((sims, len(cluster)))
        y = shared + item + own * rng.standard_normal((sims, len(cluster)))
        self.starts = np.r_[0, np.cumsum(self.m)[:-1]]
        self.ky = self._count(y, design.baseline)
        self.y_bounds = intervals(self.ky, self.m, ALPHA, coarse=True)

    def _count(self, latent: np.ndarray, rate: float) -> np.ndarray:
        return np.add.reduceat((latent < st.norm.ppf(rate)).astype(float), self.starts, axis=1)

    def power(self, delta: float) -> float:
        """Share of data sets in which the MOVER interval excludes 0 when the model's rate is baseline + delta."""
        kx = self._count(self.x, self.design.baseline + delta)
        l1, u1 = intervals(kx, self.m, ALPHA, coarse=True)
        l2, u2 = self.y_bounds
        n = self.m.sum()
        low, high = mover(kx.sum(1) / n, l1, u1, self.ky.sum(1) / n, l2, u2, residual_correlation(kx, self.ky, self.m))
        return float(np.mean((low > 0) | (high < 0)))


@lru_cache(maxsize=4)  # a large design's draws take hundreds of MB
def _simulation(design: BinaryDesign, seed: int, sims: int = SIMS) -> _Simulation:
    return _Simulation(design, seed, sims)


def binary_power(design: BinaryDesign, delta: float, seed: int = 0, sims: int = SIMS) -> float:
    return _simulation(design, seed, sims).power(delta)


@lru_cache(maxsize=512)
def binary_mde(design: BinaryDesign, seed: int = 0) -> float:
    """Smallest change of the rate, towards 0.5, detected with 80% power (NaN if none is)."""
    sim = _simulation(design, seed)
    sign = 1.0 if design.baseline <= 0.5 else -1.0
    room = (1 - design.baseline if sign > 0 else design.baseline) - 1e-6
    if len(design.trials) < 2 or sim.power(sign * room) < POWER:
        return float("nan")
    return _solve(lambda d: sim.power(sign * d), room)


def _solve(power: Callable[[float], float], room: float) -> float:
    """The effect in (0, room] where `power` (increasing, power(room) >= 0.8) crosses 0.8.

    probit(power) is close to linear in the effect, so secant steps on that scale land in a few
    evaluations; every step keeps a bracket, and bisection takes over when a step leaves it.
    """
    target = float(st.norm.ppf(POWER))

    def probit(d: float) -> float:
        return float(st.norm.ppf(np.clip(power(d), 1e-4, 1 - 1e-4)))

    low, f_low, high, f_high = 0.0, float(st.norm.ppf(ALPHA / 2)), room, probit(room)
    d = room / 4
    for _ in range(30):
        f = probit(d)
        if abs(f - target) < 0.01 or high - low < 1e-3:  # 0.01 on the probit scale: 0.003 in power
            return d
        low, f_low, high, f_high = (d, f, high, f_high) if f < target else (low, f_low, d, f)
        step = low + (target - f_low) * (high - low) / (f_high - f_low)
        d = step if low + 1e-4 < step < high - 1e-4 else (low + high) / 2
    return d


def binary_clusters_needed(design: BinaryDesign, effect: float, limit: int = 1_000) -> float:
    """Clusters (of the pilot's sizes) whose test detects `effect` with 80% power; inf past `limit`.

    The noncentrality of the test grows with the square root of the clusters, so from the power p
    simulated at G clusters, G * ((z + z_0.8) / (z + probit(p)))^2 (z = z_0.975) is the next guess;
    three such simulated steps settle within a cluster or two of the answer.
    """
    effect = abs(effect) * (1.0 if design.baseline <= 0.5 else -1.0)
    if not 0 < design.baseline + effect < 1 or len(design.trials) < 2:
        return float("nan")
    z, clusters = st.norm.ppf(1 - ALPHA / 2), len(design.trials)
    for _ in range(3):
        power = np.clip(binary_power(design.with_clusters(clusters), effect, sims=NEEDED_SIMS), 0.01, 0.999)
        scale = ((z + st.norm.ppf(POWER)) / max(z + st.norm.ppf(power), 0.1)) ** 2
        clusters = max(2, int(np.ceil(clusters * scale)))
        if clusters > limit:
            return float("inf")
    return float(clusters)


@lru_cache(maxsize=512)  # deterministic (seeded draws); a report asks again for each comparison it shows
def binary_n_needed(design: BinaryDesign, effect: float, icc_range: tuple[float, float]) -> tuple[float, float, float]:
    """Items x epochs needed for `effect`: (estimate, low, high), the range from the icc's likelihood interval."""
    per = float(np.mean(design.trials))
    runs = [design, design.with_icc(icc_range[0]), design.with_icc(max(icc_range[1], design.icc))]
    needed = [binary_clusters_needed(d, effect) * per for d in runs]
    return needed[0], min(needed), max(needed)  # min/max: Monte Carlo noise may cross the estimate


def mde(se: float, clusters: int) -> float:
    """Continuous scores: smallest |difference| detected with 80% power at alpha 0.05 with this design."""
    from statsmodels.stats.power import TTestPower

    if not se > 0 or clusters < 2:
        return float("nan")
    effect = TTestPower().solve_power(effect_size=None, nobs=clusters, alpha=ALPHA, power=POWER)
    return float(effect * se * np.sqrt(clusters))


def n_needed(se: float, n: int, clusters: int, effect: float) -> tuple[float, float, float]:
    """Continuous scores: items needed to detect |effect| with 80% power: (estimate, low, high).

    Items per cluster stay as in the pilot; low and high use the ends of the 95% interval of the
    pilot's cluster-level standard deviation.
    """
    effect = abs(effect)
    if not se > 0 or clusters < 2 or not effect > 0:
        return float("nan"), float("nan"), float("nan")
    sd = se * np.sqrt(clusters)
    df = clusters - 1
    sds = (sd, sd * np.sqrt(df / st.chi2.ppf(0.975, df)), sd * np.sqrt(df / st.chi2.ppf(0.025, df)))
    per_cluster = n / clusters
    estimate, low, high = (_clusters_needed(effect / s) * per_cluster for s in sds)
    return float(estimate), float(low), float(high)


def _clusters_needed(standardized: float) -> int:
    """The smallest whole number of clusters with 80% power (the solver fails at very small n)."""
    from statsmodels.stats.power import TTestPower

    guess = int(np.ceil((st.norm.ppf(1 - ALPHA / 2) + st.norm.ppf(POWER)) ** 2 / standardized**2))
    candidates = np.arange(2, 2 * guess + 10)
    reached = TTestPower().power(effect_size=standardized, nobs=candidates, alpha=ALPHA) >= POWER
    return int(candidates[int(np.argmax(reached))])
