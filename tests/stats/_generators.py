"""Clustered data for the simulation tests: latent probit binary scores and continuous scores."""

from __future__ import annotations

import numpy as np
from scipy import stats as st


def binary(rng: np.random.Generator, p: float, icc: float, clusters: int, per: int, sets: int) -> np.ndarray:
    """(sets, clusters, per) 0/1: a latent normal with intraclass correlation `icc`, cut at rate p."""
    shared = rng.normal(0, np.sqrt(icc), (sets, clusters, 1))
    own = rng.normal(0, np.sqrt(1 - icc), (sets, clusters, per))
    return (shared + own > st.norm.ppf(1 - p)).astype(float)


def paired_binary(rng: np.random.Generator, p: float, icc: float, clusters: int, per: int,
                  agreement: float = 0.5) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Two models at the same rate p on shared items: a common cluster and item latent, own noise."""
    shared = rng.normal(0, np.sqrt(icc), (clusters, 1))
    item = rng.normal(0, np.sqrt((1 - icc) * agreement), (clusters, per))
    cut = st.norm.ppf(1 - p)
    noise = np.sqrt((1 - icc) * (1 - agreement))
    x = shared + item + rng.normal(0, noise, (clusters, per)) > cut
    y = shared + item + rng.normal(0, noise, (clusters, per)) > cut
    return x.astype(float).ravel(), y.astype(float).ravel()


def continuous(rng: np.random.Generator, kind: str, icc: float, clusters: int, per: int) -> np.ndarray:
    """(clusters x per) values of mean 0 and variance 1: normal, t with 3 df, exponential (skewness 2)
    or lognormal (sigma 1: skewness 6.2, a stress case)."""

    def draw(size: tuple[int, int]) -> np.ndarray:
        if kind == "normal":
            return rng.normal(size=size)
        if kind == "t3":
            return rng.standard_t(3, size=size) / np.sqrt(3)
        if kind == "exponential":
            return rng.exponential(1.0, size) - 1.0
        return (rng.lognormal(0, 1, size) - np.exp(0.5)) / np.sqrt((np.e - 1) * np.e)

    return (np.sqrt(icc) * draw((clusters, 1)) + np.sqrt(1 - icc) * draw((clusters, per))).ravel()
