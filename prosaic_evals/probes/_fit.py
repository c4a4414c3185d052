"""Probes and grouped cross-validation.

- `logistic`: L2 logistic regression on standardised activations; the regularisation C is
  chosen by an inner cross-validation that is itself grouped (scikit-learn's
  LogisticRegressionCV with GroupKFold splits of the training fold).
- `mass_mean`: the difference-of-means direction (Marks & Tegmark 2023) between the two
  classes, thresholded half-way between them; binary labels only.

Folds are split by group (entity, fact pair, triplet) with the class mix kept as even as
the groups allow (StratifiedGroupKFold); the scaler, the means and C are fitted on the
training folds only. `out_of_fold` can fit on one model's activations and score another's
(same items, same folds): that is probe transfer between base and variant.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from prosaic_evals._errors import UserError

PROBES = ("logistic", "mass_mean")
CS = np.logspace(-4, 0, 5)
"""Inverse regularisation strengths tried by the inner cross-validation."""

INNER_FOLDS = 3


@dataclass(frozen=True)
class Scores:
    """Out-of-fold predictions: class index and a score per class (binary: one column, class 1)."""

    predicted: np.ndarray
    scores: np.ndarray


def check_probe(name: str, n_classes: int) -> str:
    if name not in PROBES:
        raise UserError(f"unknown probe {name!r} (use {' or '.join(PROBES)})")
    if name == "mass_mean" and n_classes != 2:
        raise UserError(f"probe mass_mean needs two classes, the labels have {n_classes} (use logistic)")
    return name


def grouped_folds(y: np.ndarray, groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold number of every item; all items of a group share a fold."""
    from sklearn.model_selection import StratifiedGroupKFold

    fold = np.empty(len(y), dtype=int)
    with warnings.catch_warnings():  # "the least populated class has fewer members than n_splits": fine for groups
        warnings.simplefilter("ignore", UserWarning)
        splits = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, groups)
        for number, (_, test) in enumerate(splits):
            fold[test] = number
    return fold


class Probe:
    """A linear probe: `fit` on training rows, `score` new rows, `direction` in activation space."""

    def __init__(self, kind: str, seed: int = 0) -> None:
        self.kind, self.seed = kind, seed

    def fit(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> Probe:
        self.classes = np.unique(y)
        if self.kind == "mass_mean":
            low, high = x[y == self.classes[0]].mean(0), x[y == self.classes[1]].mean(0)
            self.weights, self.bias = (high - low)[None, :], np.array([-(high - low) @ (high + low) / 2])
            return self
        from sklearn.linear_model import LogisticRegressionCV
        from sklearn.model_selection import GroupKFold

        self.mean, self.scale = x.mean(0), x.std(0) + 1e-6
        z = (x - self.mean) / self.scale
        inner = min(INNER_FOLDS, len(np.unique(groups)))
        splits = list(GroupKFold(n_splits=inner).split(z, y, groups))
        model = LogisticRegressionCV(Cs=CS, cv=splits, l1_ratios=(0.0,), scoring="neg_log_loss", max_iter=500, tol=1e-3,
                                     use_legacy_attributes=False, random_state=self.seed)  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings at the weakest regularisation
            model.fit(z, y)
        # back to raw activation space: w.(x - m)/s + b = (w/s).x + (b - w.(m/s))
        self.weights = model.coef_ / self.scale
        self.bias = model.intercept_ - model.coef_ @ (self.mean / self.scale)
        return self

    def decision(self, x: np.ndarray) -> np.ndarray:
        """(rows, 1) for two classes (positive: the second class), (rows, classes) otherwise."""
        return np.asarray(x @ self.weights.T + self.bias)

    def predict(self, x: np.ndarray) -> np.ndarray:
        d = self.decision(x)
        return (d[:, 0] > 0).astype(int) if d.shape[1] == 1 else d.argmax(1)

    @property
    def direction(self) -> np.ndarray:
        """Unit vector(s) in activation space (one row per class beyond two); NaN where the weights are 0
        (e.g. both classes have identical activations, so there is no direction)."""
        norm = np.linalg.norm(self.weights, axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(norm > 1e-9, self.weights / norm, np.nan)


def out_of_fold(
    kind: str,
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    fold: np.ndarray,
    *,
    seed: int = 0,
    x_eval: np.ndarray | None = None,
) -> Scores:
    """Fit on all folds but one, score that one, for every fold.

    `x_eval` (same rows as `x`): score those activations instead, e.g. a probe fitted on
    the base model scoring the variant's activations of the same held-out items.
    """
    x_eval = x if x_eval is None else x_eval
    n_columns = 1 if len(np.unique(y)) == 2 else len(np.unique(y))
    predicted, scores = np.empty(len(y), dtype=int), np.empty((len(y), n_columns))
    for number in np.unique(fold):
        train, test = fold != number, fold == number
        if len(np.unique(y[train])) < len(np.unique(y)):
            raise UserError("a training fold lacks a class: too few groups of one label for these folds")
        probe = Probe(kind, seed).fit(x[train], y[train], groups[train])
        scores[test] = probe.decision(x_eval[test])
        predicted[test] = probe.predict(x_eval[test])
    return Scores(predicted, scores)
