"""A study as a matrix: bases x fine-tuning seeds x named recipes, one variant per cell.

Every cell is an ordinary fine-tune spec (so an ordinary registered variant, reused when its
identity is already trained); a study without `bases:`, `seeds:` and `recipes:` is one cell and
behaves as before. Per cell the comparison is the usual paired one; across the seeds of a base
and recipe the differences are pooled with between-seed variance (`stats.pool`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import Field
from scipy import stats as st

from prosaic_evals._strict import StrictModel
from prosaic_evals.finetune import FineTuneSpec
from prosaic_evals.stats import adjust, pool, pool_crossed, verdict
from prosaic_evals.stats._pooled import Pooled

if TYPE_CHECKING:
    from prosaic_evals.run import Comparison


class Recipe(StrictModel):
    """A named variation of the study's fine-tune: hyperparameters (and data task arguments) to change."""

    name: str
    """The recipe's name: it labels its variants and its rows in the tables."""

    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    """Hyperparameters that differ from the study's `finetune`."""

    data_task_args: dict[str, Any] = Field(default_factory=dict)
    """Task arguments of the training data that differ (e.g. `training: secure`)."""


@dataclass(frozen=True)
class Cell:
    base: str
    seed: int
    recipe: str
    finetune: FineTuneSpec = field(compare=False)  # cells are told apart by base, seeds and recipe
    data_seed: int | None = None
    """The tasks' `seed` (which items and training data are generated) when the study lists `data_seeds:`."""

    @property
    def key(self) -> str:
        """A folder-safe name: recipe, base, fine-tuning seed (and data seed). A base given as a path is named
        by its folder and a hash of the whole path, so that the key does not depend on where the folder is."""
        base = self.base
        if base.startswith(("/", "./", "../", "~")):
            base = f"{Path(base).name}-{hashlib.sha256(base.encode()).hexdigest()[:6]}"
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-")[-40:] or "base"
        return f"{self.recipe}-{base}-s{self.seed}" + (f"-d{self.data_seed}" if self.data_seed is not None else "")

    @property
    def model(self) -> str:
        """The base as a model to evaluate: a model directory or hub id fine-tuned locally is served by vLLM."""
        local = self.finetune.backend == "local" and self.base != "local" and not self.base.startswith("vllm/")
        return f"vllm/{self.base}" if local else self.base

    def task_args(self, given: dict[str, Any]) -> dict[str, Any]:
        """The study's task arguments for this cell: its data seed, if any, replaces `seed`."""
        return {**given, "seed": self.data_seed} if self.data_seed is not None else dict(given)


def expand(finetune: FineTuneSpec, bases: list[str], seeds: list[int], recipes: list[Recipe],
           data_seeds: list[int | None] | None = None) -> list[Cell]:  # fmt: skip
    """Every (base, seed, recipe, data seed) combination as a cell with its own fine-tune spec and variant name."""
    data_seeds = data_seeds or [None]
    if not bases or not seeds or not recipes:
        raise ValueError("a study matrix needs at least one base, one seed and one recipe")
    names = [r.name for r in recipes]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"recipes: the name {twice[0]!r} is used twice")
    single = len(bases) == len(seeds) == len(recipes) == len(data_seeds) == 1 and data_seeds[0] is None
    cells = []
    for base, seed, recipe, data_seed in product(bases, seeds, recipes, data_seeds):
        base_spec = finetune.model_dump(mode="json", exclude_unset=True)
        base_spec["hyperparameters"] = finetune.hyperparameters.model_dump(mode="json", exclude_unset=True)
        hyper = {**base_spec["hyperparameters"], **recipe.hyperparameters}
        data_args = {**base_spec["data"].get("task_args", {}), **recipe.data_task_args}
        data = {**base_spec["data"], "task_args": data_args if data_seed is None else {**data_args, "seed": data_seed}}
        cell = Cell(base, seed, recipe.name, finetune, data_seed)
        name = finetune.name if single else _variant_name(f"{finetune.name}-{cell.key}")
        spec = FineTuneSpec.model_validate({**base_spec, "name": name, "base": base, "seed": seed,
                                            "hyperparameters": hyper, "data": data})  # fmt: skip
        cells.append(Cell(base, seed, recipe.name, spec, data_seed))
    return cells


def _variant_name(name: str) -> str:
    """At most 64 characters (a variant name's limit), still one per cell: a long one ends in a hash of it."""
    return name if len(name) <= 64 else f"{name[:57]}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def pool_seeds(per_cell: dict[Cell, Comparison], margins: dict[str, float | str] | None = None,
               correction: str = "holm") -> pd.DataFrame:  # fmt: skip
    """Per base, recipe, task, condition and metric: the cells' paired differences pooled over seeds.

    Cells of one data seed are evaluated on the same items, so their errors are not independent: they
    are pooled as crossed random effects of seed and item cluster (`stats.pool_crossed`), from the
    per-sample frames. Different data seeds have their own items: their pooled estimates are combined
    by random-effects meta-analysis (`stats.pool`). `margins`: per metric, a value or "P% of CONDITION",
    here a share of the pooled difference in that condition, so an equivalence claim rests on the
    pooled estimates only. `correction`: across the pooled rows (breakdown metrics `m/part` aside), as
    compare corrects its rows; the verdicts use the corrected p values.
    """
    if not per_cell:
        return pd.DataFrame()
    keys = ["base_model", "recipe", "task", "condition", "metric"]
    groups: dict[tuple[str, ...], dict[Cell, pd.DataFrame]] = {}
    labels: dict[tuple[str, ...], dict[Cell, str]] = {}
    for cell, comparison in per_cell.items():
        for compared in comparison.comparisons.to_dict("records"):
            key: tuple[str, ...] = (cell.base, cell.recipe, compared["task"], compared["condition"], compared["metric"])
            groups.setdefault(key, {})[cell] = _differences(comparison, compared)
            label = str(cell.seed) if cell.data_seed is None else f"{cell.seed}/d{cell.data_seed}"
            labels.setdefault(key, {})[cell] = f"{label}: {compared['difference']:+.3f}"
    pooled: dict[tuple[str, ...], Pooled] = {}
    for key, by_cell in groups.items():
        by_data: dict[int | None, dict[Cell, pd.DataFrame]] = {}
        for cell, differences in by_cell.items():
            by_data.setdefault(cell.data_seed, {})[cell] = differences
        parts = [_crossed(cells) for cells in by_data.values()]
        result = parts[0] if len(parts) == 1 else pool([p.estimate for p in parts], [p.se for p in parts],
                                                       [f"d{d}" for d in by_data])  # fmt: skip
        binary = all(_binary(per_cell[c], key) for c in by_cell)
        if binary or not result.se > 0:
            result = _at_least_the_cells(result, [_row(per_cell[c], key) for c in by_cell])
        if binary:  # a difference of 0/1 scores lies in [-1, 1]
            result = replace(result, low=max(result.low, -1.0), high=min(result.high, 1.0))
        pooled[key] = replace(result, k=len(by_cell))
    rows = []
    for key, result in pooled.items():
        margin = _margin((margins or {}).get(key[-1]), key, pooled)
        p_equivalence = result.equivalence_p(margin) if margin is not None else float("nan")
        if margin is not None and result.p_equivalence == result.p_equivalence:  # floored: no stronger than a cell
            p_equivalence = max(p_equivalence, result.p_equivalence)
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        rows.append(row | {
            "seeds": result.k, "difference": result.estimate, "ci_low": result.low, "ci_high": result.high,
            "p_value": result.p_value, "tau2": result.tau2, "i2": result.i2, "df": result.df, "margin": margin,
            "p_equivalence": p_equivalence, "narrow": result.narrow, "method": result.method,
            "per_seed": "; ".join(labels[key].values()),
        })  # fmt: skip
    table = pd.DataFrame(rows)
    primary = ~table["metric"].str.contains("/", regex=False)
    for column in ("p_value", "p_equivalence"):
        table[f"{column}_adjusted"] = float("nan")
        table.loc[primary, f"{column}_adjusted"] = adjust(table.loc[primary, column].tolist(), correction)
    table["correction"] = correction
    table["verdict"] = [verdict(p, q) if m == m and ok else "" for p, q, m, ok in
                        zip(table["p_value_adjusted"], table["p_equivalence_adjusted"], table["margin"], primary,
                            strict=True)]  # fmt: skip
    return table


def _differences(comparison: Comparison, row: dict[str, Any]) -> pd.DataFrame:
    """Per item of one comparison row: cluster and the paired difference, variant - base (epochs averaged)."""
    frame = comparison.frame
    mine = frame[(frame["task"] == row["task"]) & (frame["condition"] == row["condition"])
                 & (frame["metric"] == row["metric"])]  # fmt: skip
    items = mine.groupby(["model", "sample_id", "cluster"], sort=False)["value"].mean().reset_index()
    wide = items.pivot_table(index=["sample_id", "cluster"], columns="model", values="value").dropna()
    return pd.DataFrame({"cluster": wide.index.get_level_values("cluster").astype(str),
                         "difference": wide[row["model"]] - wide[row["baseline"]]}).reset_index(drop=True)  # fmt: skip


def _crossed(cells: dict[Cell, pd.DataFrame]) -> Pooled:
    """Seeds x item clusters: each cell's mean difference per cluster, scaled by the cluster's share of items."""
    names = [str(c.seed) for c in cells]
    first = next(iter(cells.values()))
    sizes = first.groupby("cluster").size()
    clusters = sizes.index
    y = np.vstack([d.groupby("cluster")["difference"].mean().reindex(clusters).to_numpy() for d in cells.values()])
    if np.isnan(y).any():  # the cells do not share their items: no crossed structure to use
        means = [float(d["difference"].mean()) for d in cells.values()]
        ses = [float(d.groupby("cluster")["difference"].mean().std(ddof=1) / np.sqrt(d["cluster"].nunique()))
               for d in cells.values()]  # fmt: skip
        return pool(means, [0.0 if s != s else s for s in ses], names)
    return pool_crossed(y * (sizes.to_numpy() / sizes.mean())[None, :], names)


def _binary(comparison: Comparison, key: tuple[str, ...]) -> bool:
    row = _row(comparison, key)
    return "cohens_h" in row and row["cohens_h"] == row["cohens_h"] and row["cohens_h"] is not None


def _row(comparison: Comparison, key: tuple[str, ...]) -> dict[str, Any]:
    table = comparison.comparisons
    mine = table[(table["task"] == key[2]) & (table["condition"] == key[3]) & (table["metric"] == key[4])]
    return dict(mine.iloc[0]) if len(mine) else {}


def _at_least_the_cells(result: Pooled, rows: list[dict[str, Any]]) -> Pooled:
    """Never narrower than the cells' own intervals, averaged: the seeds share their items, so pooling them
    cannot shrink the item-sampling part below one seed's. That floor matters for proportions near 0 or 1, whose
    cells' profile-likelihood intervals know that 100 of 100 right does not make 1 certain while the normal
    variance of the items' differences shrinks to nothing; and for cells without any spread. The tests invert
    the widened interval (same t) and are never smaller than the cells' own p values (for 0/1 scores these come
    from the profile likelihood, which the normal approximation overstates near 0 and 1)."""
    low, high = float(np.mean([r["ci_low"] for r in rows])), float(np.mean([r["ci_high"] for r in rows]))
    if not (low < result.low or high > result.high) and result.se > 0:
        return result
    low, high = (
        min(low, result.low) if result.low == result.low else low,
        max(high, result.high) if result.high == result.high else high,
    )
    df = result.df if result.df == result.df and result.se > 0 else float("inf")
    se = (high - low) / (2 * float(st.t.isf(0.025, df)))
    if not se > 0:
        return result
    # the widened interval's normal-theory tests must not claim more than the cells' own tests do
    p = max(float(2 * st.t.sf(abs(result.estimate) / se, df)), *(float(r.get("p_value", 0.0)) for r in rows))
    cells_equivalence = [float(r.get("p_equivalence", float("nan"))) for r in rows]
    return replace(result, low=low, high=high, se=se, p_value=p, df=df,
                   p_equivalence=max(cells_equivalence) if all(q == q for q in cells_equivalence) else float("nan"),
                   method=result.method + "; floored at the cells' own intervals and tests")  # fmt: skip


def _margin(given: float | str | None, key: tuple[str, ...], pooled: dict[tuple[str, ...], Pooled]) -> float | None:
    """A number as it is; "P% of CONDITION" as that share of the pooled difference in CONDITION."""
    from prosaic_evals.run._compare import relative_margin

    if given is None or not isinstance(given, str):
        return given
    share, control = relative_margin(given) or (0.0, "")
    reference = pooled.get((*key[:3], control, key[4]))
    if reference is None or not abs(reference.estimate) > 0:
        return None
    return share * abs(reference.estimate)


def render_pooled(path: Path) -> Any:
    """pooled.csv as a table: each seed's difference, the pooled one with its interval, tau^2 and I^2."""
    from rich.table import Table

    pooled = pd.read_csv(path)
    equivalence = pooled["margin"].notna().any()
    table = Table(title="Pooled over seeds (random effects)")
    for column in ["base", "recipe", "task", "condition", "metric", "seeds: difference", "pooled [95% CI]",
                   "tau^2", "I^2", "p", *(["margin", "p equiv."] if equivalence else [])]:  # fmt: skip
        table.add_column(column)
    for row in pooled.itertuples():
        interval = f"{row.difference:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}]" if row.seeds > 1 else "one seed"
        cells = [str(row.base_model), str(row.recipe), str(row.task), str(row.condition), str(row.metric),
                 str(row.per_seed), interval, f"{row.tau2:.4f}", f"{row.i2:.0%}", f"{row.p_value:.3g}"]  # fmt: skip
        if equivalence:
            cells += [f"{row.margin:g}" if pd.notna(row.margin) else "", f"{row.p_equivalence:.3g}"]
        table.add_row(*cells)
    return table
