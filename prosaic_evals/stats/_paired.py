"""Paired comparison of two models on identical items: difference, interval, test and equivalence.

Differences are `model - baseline`, item by item. For each kind of score one method family
gives the interval, the test and the equivalence test, so the interval excludes 0 exactly when
p <= 0.05 and "equivalent at alpha" means the 1 - 2 alpha interval lies inside the margin:

- binary scores: MOVER (Zou & Donner 2008; Newcombe 1998's method 10 is its Wilson special
  case) built from each model's beta-binomial profile-likelihood interval, with the correlation
  of the two models' cluster residuals; p and equivalence p are the levels at which the interval
  touches 0 or a margin;
- continuous scores: Hall's skewness-corrected t on the clusters' mean item differences, its
  interval, and two one-sided tests of the same statistic for equivalence (`_skewt.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize

from prosaic_evals.stats._betabinomial import profile, rho_bounds
from prosaic_evals.stats._data import Clustered, clustered
from prosaic_evals.stats._intervals import clip, mean_interval
from prosaic_evals.stats._power import BinaryDesign, binary_mde, icc, mde, mover, residual_correlation
from prosaic_evals.stats._skewt import SkewT

ALPHA = 0.05
P_FLOOR = 1e-15
"""The smallest p the binary interval inversion reports (the data rarely allow less)."""


class MarginError(ValueError):
    """An equivalence test that cannot be done as asked (a bad margin, or no variation to test)."""


@dataclass(frozen=True)
class PairedResult:
    n: int
    """Items (epochs of an item count once)."""

    epochs: float
    clusters: int
    baseline: float
    model: float
    difference: float
    ci_low: float
    ci_high: float
    ci_method: str
    p_value: float
    test: str
    se: float
    """Cluster-robust standard error of the difference (for power; the tests do not use it)."""

    mde: float
    """Smallest |difference| this design detects with 80% power at alpha 0.05."""

    margin: float = float("nan")
    p_equivalence: float = float("nan")
    """TOST: the larger of the two one-sided p-values against |difference| >= margin."""

    verdict: str = ""
    effects: dict[str, float] = field(default_factory=dict)
    design: dict[str, Any] = field(default_factory=dict)
    """What a power calculation needs (see `power.py`)."""


def compare_paired(
    model: Sequence[float] | np.ndarray,
    baseline: Sequence[float] | np.ndarray,
    clusters: Sequence[object] | None = None,
    *,
    items: Sequence[object] | None = None,
    margin: float | None = None,
) -> PairedResult:
    """Paired comparison (binary when every value is 0 or 1); rows are aligned (item, epoch) pairs.

    `items` labels the rows of one item (its epochs); `margin`: the equivalence margin, > 0.
    """
    x, y = np.asarray(model, dtype=float), np.asarray(baseline, dtype=float)
    if len(x) != len(y):
        raise ValueError(f"model and baseline need one value per item ({len(x)} vs {len(y)})")
    data = clustered(x, clusters, items, name="model")
    clustered(y, clusters, items, name="baseline")
    if margin is not None and not (np.isfinite(margin) and margin > 0):
        raise MarginError(f"equivalence margin must be a positive number, not {margin}")
    binary = data.binary and bool(np.isin(y, (0.0, 1.0)).all())
    result = (_binary if binary else _continuous)(data, x, y, margin)
    return result


def _binary(data: Clustered, x: np.ndarray, y: np.ndarray, margin: float | None) -> PairedResult:
    kx, m = data.trials(x)
    ky, _ = data.trials(y)
    px, py = profile(kx, m), profile(ky, m)
    p1, p2 = px.estimate, py.estimate
    r = float(residual_correlation(kx, ky, m))

    def interval(alpha: float) -> tuple[float, float]:
        (l1, u1), (l2, u2) = px.interval(alpha), py.interval(alpha)
        low, high = mover(
            np.array(p1), np.array(l1), np.array(u1), np.array(p2), np.array(l2), np.array(u2), np.array(r)
        )
        return float(low), float(high)

    g = data.n_clusters
    low, high = interval(ALPHA)
    if g < 2:
        p_two: Callable[[float], float] = lambda t: float("nan")  # noqa: E731
    else:
        p_two = lambda t: _inverted_p(interval, p1 - p2, t)  # noqa: E731
    both = (x == 1) & (y == 1)
    b, c = int(((x == 1) & (y == 0)).sum()), int(((x == 0) & (y == 1)).sum())
    odds = (b + 0.5) / (c + 0.5) if min(b, c) == 0 else b / c  # Haldane's correction when a cell is empty
    effects = {
        "risk_difference": p1 - p2,
        "cohens_h": float(2 * np.arcsin(np.sqrt(p1)) - 2 * np.arcsin(np.sqrt(p2))),
        "discordant_odds_ratio": float(odds),
        "model_only": b,
        "baseline_only": c,
        "both": int(both.sum()),
    }
    rho = icc(ky, m)
    power = BinaryDesign.from_pilot(kx, ky, m, float(both.mean()), rho) if g >= 2 else None
    design = {"kind": "binary", "design": power, "icc_range": rho_bounds(ky, m) if g >= 2 else (0.0, 0.0)}
    return _result(data, p1, p2, (low, high), "MOVER, beta-binomial profile likelihood", p_two, "MOVER inversion",
                   margin, effects, design, _robust_se(data, x - y),
                   mde_=binary_mde(power) if power is not None else float("nan"))  # fmt: skip


def _continuous(data: Clustered, x: np.ndarray, y: np.ndarray, margin: float | None) -> PairedResult:
    item_diff = data.item_means(x - y)
    test = SkewT(*data.cluster_totals(x - y))
    if margin is not None and not test.defined:
        raise MarginError(f"an equivalence test needs variation, and every cluster's difference is {test.estimate:g}")
    low, high = clip(test.interval(ALPHA), item_diff)
    sd = float(item_diff.std(ddof=1)) if len(item_diff) > 1 else float("nan")
    effects = {"mean_difference": test.estimate, "cohens_dz": test.estimate / sd if sd > 0 else float("nan")}
    design = {"kind": "continuous"}
    return _result(data, float(data.item_means(x).mean()), float(data.item_means(y).mean()), (low, high),
                   test.method, test.p_value, test.method, margin, effects, design,
                   _robust_se(data, x - y), test)  # fmt: skip


def _result(
    data: Clustered,
    model: float,
    baseline: float,
    ci: tuple[float, float],
    ci_method: str,
    p_two: Callable[[float], float],
    test: str,
    margin: float | None,
    effects: dict[str, float],
    design: dict[str, Any],
    se: float,
    skewt: SkewT | None = None,
    mde_: float | None = None,
) -> PairedResult:
    diff = model - baseline if skewt is None else skewt.estimate
    p = p_two(0.0) if data.n_clusters >= 2 else float("nan")
    p_eq = float("nan")
    if margin is not None and data.n_clusters >= 2:
        if skewt is not None:
            p_eq = max(skewt.p_greater(-margin), skewt.p_less(margin))
        else:
            p_eq = max(_one_sided(p_two, diff, -margin, above=True), _one_sided(p_two, diff, margin, above=False))
    return PairedResult(
        n=data.n_items, epochs=data.epochs, clusters=data.n_clusters, baseline=baseline, model=model,
        difference=diff, ci_low=ci[0], ci_high=ci[1], ci_method=ci_method, p_value=p, test=test, se=se,
        mde=mde(se, data.n_clusters) if mde_ is None else mde_,
        margin=float("nan") if margin is None else float(margin), p_equivalence=p_eq,
        verdict=verdict(p, p_eq), effects=effects, design=design,
    )  # fmt: skip


def verdict(p: float, p_equivalence: float, alpha: float = ALPHA) -> str:
    """What the two tests support together (Lakens 2017's four outcomes)."""
    different, equivalent = p <= alpha, p_equivalence <= alpha
    if different and equivalent:
        return "different, within margin"
    if different:
        return "different"
    if equivalent:
        return "equivalent"
    return "inconclusive" if p_equivalence == p_equivalence else ""


def _inverted_p(interval: Callable[[float], tuple[float, float]], estimate: float, t: float) -> float:
    """Two-sided p of H0: difference = t: the alpha at which the (1 - alpha) interval's end reaches t."""
    if estimate == t:
        return 1.0

    def gap(log_alpha: float) -> float:
        low, high = interval(float(np.exp(log_alpha)))
        return low - t if estimate > t else t - high

    lo, hi = np.log(P_FLOOR), np.log(1 - 1e-9)
    if gap(lo) > 0:
        return P_FLOOR
    if gap(hi) <= 0:
        return 1.0
    return float(np.exp(optimize.brentq(gap, lo, hi, xtol=1e-6)))


def _one_sided(p_two: Callable[[float], float], estimate: float, t: float, *, above: bool) -> float:
    """One-sided p against H0: difference <= t (`above`) or >= t, from the equal-tailed family."""
    half = p_two(t) / 2
    return half if (estimate > t) == above else 1 - half


def _robust_se(data: Clustered, diff: np.ndarray) -> float:
    totals, sizes = data.cluster_totals(diff)
    g = len(totals)
    if g < 2:
        return float("nan")
    mean = totals.sum() / sizes.sum()
    return float(np.sqrt(g / (g - 1) * ((totals - mean * sizes) ** 2).sum()) / sizes.sum())


def adjust(p_values: Sequence[float], method: str) -> list[float]:
    """Holm (`holm`) or Benjamini-Hochberg (`bh`) across a family; `none` leaves them. NaNs stay NaN."""
    values = np.asarray(p_values, dtype=float)
    if method == "none" or not len(values):
        return [float(v) for v in values]
    from statsmodels.stats.multitest import multipletests

    out = np.full(len(values), np.nan)
    ok = ~np.isnan(values)
    if ok.any():
        out[ok] = multipletests(values[ok], alpha=ALPHA, method={"holm": "holm", "bh": "fdr_bh"}[method])[1]
    return out.tolist()


def chance_test(
    values: Sequence[float], clusters: Sequence[object] | None = None, *, items: Sequence[object] | None = None
) -> float:
    """Two-sided p that per-item paired contrasts (e.g. log P(correct) - log P(shuffled)) average 0:
    the cluster sign-flip test (exact up to 20 clusters), as `mean_interval(exchangeable=True)` reports it."""
    return mean_interval(values, clusters, items=items, exchangeable=True).p_zero
