"""From per-sample values to the units the statistics work on: items (epochs averaged) in clusters.

A task that samples at temperature > 0 may run several epochs: they are repeated measures of one
item (Miller 2024, "Adding Error Bars to Evals"), so they are averaged per item before anything
is treated as independent, and binary counts keep every epoch as a trial of its cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Clustered:
    values: np.ndarray
    """Per row (item x epoch)."""

    cluster: np.ndarray
    """Cluster index per row."""

    item: np.ndarray
    """Item index per row."""

    @property
    def binary(self) -> bool:
        return bool(np.isin(self.values, (0.0, 1.0)).all())

    @property
    def n_items(self) -> int:
        return int(self.item.max(initial=-1)) + 1

    @property
    def n_clusters(self) -> int:
        return int(self.cluster.max(initial=-1)) + 1

    @property
    def epochs(self) -> float:
        """Rows per item (a mean when items have different numbers of epochs)."""
        return len(self.values) / max(self.n_items, 1)

    def trials(self, values: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per cluster: the sum of 0/1 values (every epoch a trial) and the number of trials."""
        v = self.values if values is None else values
        return np.bincount(self.cluster, weights=v, minlength=self.n_clusters), np.bincount(
            self.cluster, minlength=self.n_clusters
        ).astype(float)

    def item_means(self, values: np.ndarray | None = None) -> np.ndarray:
        v = self.values if values is None else values
        return np.bincount(self.item, weights=v) / np.bincount(self.item)

    def cluster_totals(self, values: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per cluster: the sum of item means and the number of items (so every item weighs the same)."""
        means = self.item_means(values)
        item_cluster = np.zeros(self.n_items, dtype=int)
        item_cluster[self.item] = self.cluster
        return np.bincount(item_cluster, weights=means, minlength=self.n_clusters), np.bincount(
            item_cluster, minlength=self.n_clusters
        ).astype(float)


def clustered(
    values: Sequence[float] | np.ndarray,
    clusters: Sequence[object] | np.ndarray | None = None,
    items: Sequence[object] | np.ndarray | None = None,
    *,
    name: str = "values",
) -> Clustered:
    """Validate and index: every value finite; an item never in two clusters."""
    y = np.asarray(values, dtype=float)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"{name}: need a non-empty list of numbers")
    bad = int((~np.isfinite(y)).sum())
    if bad:
        raise ValueError(f"{name}: {bad} of {len(y)} values are NaN or infinite; drop them before testing")
    item_labels = np.arange(len(y)).astype(str) if items is None else np.asarray(items).astype(str)
    cluster_labels = item_labels if clusters is None else np.asarray(clusters).astype(str)
    if len(item_labels) != len(y) or len(cluster_labels) != len(y):
        raise ValueError(f"{name}: values, clusters and items need one entry per value")
    _, item = np.unique(item_labels, return_inverse=True)
    _, cluster = np.unique(cluster_labels, return_inverse=True)
    homes = np.unique(np.stack([item, cluster], axis=1), axis=0)
    if len(homes) != item.max() + 1:
        raise ValueError(f"{name}: an item appears in more than one cluster")
    return Clustered(y, cluster, item)
