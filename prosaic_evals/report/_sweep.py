"""A study matrix's share of the report: each seed's difference and the pooled one (forest plot), the pooled
difference against the base model's size (scaling figure), the replication methods and a provenance line
per cell. The numbers are the study's own pooled.csv, recomputed here from the cells' comparisons so
that a report never shows a number its inputs do not give."""

from __future__ import annotations

import json
import struct
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from prosaic_evals._paths import display_path
from prosaic_evals.report import _format as f
from prosaic_evals.report._document import Block, Figure, Heading, Table
from prosaic_evals.report._figures import legend_below, save
from prosaic_evals.stats._pooled import METHOD


def sweep_part(folder: Path, plt: Any, start: int) -> tuple[list[dict[str, Any]], list[Block], list[Any], str]:
    """(numbered rows, blocks, figures to draw, methods paragraph) for the study matrix in `folder`."""
    from prosaic_evals.study._matrix import Cell, pool_seeds
    from prosaic_evals.study._sweep import read_comparison

    study = json.loads((folder / "study.json").read_text())
    cells = [c for c in study["cells"] if c.get("state") == "done"]
    records = {c["key"]: json.loads((folder / "cells" / c["key"] / "study.json").read_text()) for c in cells}
    compared = {
        Cell(c["base"], c["seed"], c["recipe"], None, c.get("data_seed")): read_comparison(  # type: ignore[arg-type]
            folder / "cells" / c["key"]
        )
        for c in cells
    }
    tables = {cell: comparison.comparisons for cell, comparison in compared.items()}
    pooled = pool_seeds(compared, study["spec"].get("margins") or {}, study["spec"].get("correction", "holm"))
    sizes = {base: parameters(base) for base in dict.fromkeys(c["base"] for c in cells)}
    rows = []
    for i, p in enumerate(pooled.to_dict("records"), start=start):
        behind = [c.frame for cell, c in compared.items() if (cell.base, cell.recipe) == (p["base_model"], p["recipe"])]
        key = [
            (fr["task"] == p["task"]) & (fr["condition"] == p["condition"]) & (fr["metric"] == p["metric"])
            for fr in behind
        ]
        rows.append(
            {
                "id": f"R{i}",
                "kind": "pooled",
                "task": p["task"],
                "condition": p["condition"],
                "metric": p["metric"],
                "model": f"{p['recipe']} on {p['base_model']}",
                "base": p["base_model"],
                "recipe": p["recipe"],
                "parameters": sizes.get(p["base_model"]),
                "n": int(p["seeds"]),
                "estimate": p["difference"],
                "ci_low": p["ci_low"],
                "ci_high": p["ci_high"],
                "p_value": p["p_value"],
                "p_adjusted": p["p_value_adjusted"],
                "tau2": p["tau2"],
                "i2": p["i2"],
                "margin": p["margin"],
                "p_equivalence": p["p_equivalence"],
                "p_equivalence_adjusted": p["p_equivalence_adjusted"],
                "verdict": p["verdict"],
                "per_seed": p["per_seed"],
                "narrow": bool(p["narrow"]),
                "method": p["method"],
                "logs": sorted({str(log) for fr, k in zip(behind, key, strict=True) for log in fr[k]["log"]}),
                "sample_ids": sorted({str(s) for fr, k in zip(behind, key, strict=True) for s in fr[k]["sample_id"]}),
            }
        )
    blocks: list[Block] = [Heading("Across training seeds"), _pooled_table(rows), *_cell_table(study, records)]
    figures = []
    if plt is not None and rows:
        figures.append(("seeds", partial(seeds_figure, plt, rows, tables)))
        blocks.append(
            Figure(
                "fig-seeds",
                "Each seed's paired difference (grey, 95% interval) and the pooled "
                "difference with between-seed variance (black diamond), per task and metric.",
                "seeds",
            )
        )
        figures.append(("scaling", partial(scaling_figure, plt, rows)))
        blocks.append(
            Figure(
                "fig-scaling",
                "Pooled difference against the base model's parameter count, with 95% "
                "intervals (one line per task and condition).",
                "scaling",
            )
        )
    return rows, blocks, figures, methods_paragraph(study, cells, sizes, pooled)


def parameters(base: str) -> int | None:
    """The base model's parameter count from its safetensors headers (no weights are read); None if unknown."""
    try:
        from prosaic_evals.models._provider import local_target

        path = Path(local_target(base)[0])
        files = sorted(path.glob("*.safetensors")) if path.is_dir() else []
        total = 0
        for file in files:
            with file.open("rb") as handle:
                size = struct.unpack("<Q", handle.read(8))[0]
                header = json.loads(handle.read(size))
            for name, tensor in header.items():
                if name != "__metadata__":
                    count = 1
                    for dim in tensor["shape"]:
                        count *= dim
                    total += count
        return total or None
    except Exception:  # a hub id not on disk, an API model: the figure falls back to the base's name
        return None


def methods_paragraph(
    study: dict[str, Any], cells: list[dict[str, Any]], sizes: dict[str, int | None], pooled: pd.DataFrame
) -> str:
    seeds = sorted({c["seed"] for c in cells})
    data_seeds = sorted({c["data_seed"] for c in cells if c.get("data_seed") is not None})
    recipes = list(dict.fromkeys(c["recipe"] for c in cells))
    bases = [f"{b} ({_size(n)} parameters)" if n else b for b, n in sizes.items()]
    failed = [c["key"] for c in study["cells"] if c.get("state") != "done"]
    text = (
        f"Replication. {len(seeds)} fine-tuning seeds ({', '.join(map(str, seeds))}) of "
        f"{'the recipe' if len(recipes) == 1 else 'each of the recipes'} {', '.join(recipes)} on "
        f"{'the base model' if len(bases) == 1 else 'the base models'} {', '.join(bases)}"
        + (
            f", crossed with {len(data_seeds)} data seeds ({', '.join(map(str, data_seeds))}: the tasks' generated "
            "items and training data)"
            if data_seeds
            else ""
        )
        + f": {len(cells)} variants, each compared with its base on the same items as above. Per base, recipe, task, "
        "condition and metric the seeds' paired differences were pooled as crossed random effects of seed "
        "and item cluster (the seeds were evaluated on the same items, so their item-level errors are shared): "
        "the variance of the mean is (MS_seed + MS_cluster - MS_residual)/(seeds x clusters) from the two-way "
        "table of cluster mean differences, with Satterthwaite's degrees of freedom, or MS_cluster/(seeds x "
        "clusters) on clusters - 1 df when no seed variance is detectable (Clark 1973). tau^2 is the "
        "between-seed variance of the true differences, I^2 the share of the seeds' spread beyond item-level "
        "noise. For 0/1 scores the interval is never narrower than the cells' own profile-likelihood intervals, "
        "averaged. Different data seeds (different items) are combined by " + METHOD + "."
    )
    if pooled["margin"].notna().any():
        text += (
            " Equivalence: two one-sided t tests on the pooled estimate and its standard error, against the "
            "margins stated (a relative margin is that share of the pooled difference in its control "
            "condition)."
        )
    if failed:
        text += f" Cells that did not finish, and are not in the pooled estimates: {', '.join(failed)}."
    return text


def seeds_figure(plt: Any, rows: list[dict[str, Any]], tables: dict[Any, pd.DataFrame], stem: Path) -> None:
    """A forest plot per (task, metric): for each condition the seeds' differences, then the pooled diamond."""
    every = pd.concat([t.assign(seed=c.seed, base=c.base, recipe=c.recipe) for c, t in tables.items()])
    panels = list(dict.fromkeys((r["task"], r["metric"]) for r in rows if "/" not in r["metric"]))
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(7.5, sum(_height(rows, p) for p in panels) + 0.6),
        squeeze=False,
        gridspec_kw={"height_ratios": [_height(rows, p) for p in panels]},
    )
    for ax, (task, metric) in zip(axes[:, 0], panels, strict=True):
        labels, y = [], 0.0
        for row in [r for r in rows if (r["task"], r["metric"]) == (task, metric)]:
            mine = every[
                (every["task"] == task)
                & (every["metric"] == metric)
                & (every["condition"] == row["condition"])
                & (every["base"] == row["base"])
                & (every["recipe"] == row["recipe"])
            ]
            for seed in mine.itertuples():
                ax.plot([seed.ci_low, seed.ci_high], [y, y], color="0.6", lw=1)
                ax.plot([seed.difference], [y], "o", color="0.45", ms=3)
                labels.append(f"  seed {seed.seed}")
                y += 1
            if row["n"] > 1:
                ax.plot([row["ci_low"], row["ci_high"]], [y, y], color="black", lw=1.8)
            ax.plot([row["estimate"]], [y], "D", color="black", ms=5)
            labels.append(f"{row['id']} {row['condition']} (pooled)")
            y += 1.4
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(_positions(labels), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(f"{task}: {metric}", fontsize=8, loc="left")
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("difference, variant - base (95% CI)", fontsize=8)
    save(plt, fig, stem)


def scaling_figure(plt: Any, rows: list[dict[str, Any]], stem: Path) -> None:
    """The pooled difference against the base's size: one panel per (task, metric), a line per condition."""
    primary = [r for r in rows if "/" not in r["metric"]]
    panels = list(dict.fromkeys((r["task"], r["metric"]) for r in primary))
    columns = min(3, len(panels))
    fig, axes = plt.subplots(
        -(-len(panels) // columns), columns, figsize=(4.4 * columns, 3.2 * -(-len(panels) // columns)), squeeze=False
    )
    bases = list(dict.fromkeys(r["base"] for r in primary))
    known = all(r["parameters"] for r in primary)
    for ax, (task, metric) in zip(axes.flat, panels, strict=False):
        mine = [r for r in primary if (r["task"], r["metric"]) == (task, metric)]
        for j, condition in enumerate(dict.fromkeys(r["condition"] for r in mine)):
            points = [r for r in mine if r["condition"] == condition]
            x = [r["parameters"] if known else bases.index(r["base"]) for r in points]
            y = [r["estimate"] for r in points]
            low = [max(r["estimate"] - r["ci_low"], 0) if r["ci_low"] == r["ci_low"] else 0 for r in points]
            high = [max(r["ci_high"] - r["estimate"], 0) if r["ci_high"] == r["ci_high"] else 0 for r in points]
            ax.errorbar(x, y, yerr=[low, high], fmt="o-", ms=4, capsize=2, color=f"C{j}", label=condition)
        if known:
            ax.set_xscale("log")
            ax.set_xlabel("base parameters", fontsize=8)
        else:
            ax.set_xticks(range(len(bases)), bases, fontsize=7)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(f"{task}: {metric}", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    save(plt, fig, stem, legend_below(fig, axes))


def _pooled_table(rows: list[dict[str, Any]]) -> Table:
    equivalence = any(f.missing(r["margin"]) is False for r in rows)
    columns = [
        "Ref.",
        "Base",
        "Recipe",
        "Task",
        "Condition",
        "Metric",
        "Seeds",
        "Each seed",
        "Pooled [95% CI]",
        "tau^2",
        "I^2",
        "p (adj.)",
        *(["Margin", "p equiv. (adj.)", "Verdict"] if equivalence else []),
    ]
    table_rows = []
    for r in rows:
        pooled = f.estimate(r["estimate"], r["ci_low"], r["ci_high"], signed=True) if r["n"] > 1 else "one seed"
        pooled += "†" if r["narrow"] else ""
        line = [
            r["id"],
            f"{r['base']} ({_size(r['parameters'])})" if r["parameters"] else r["base"],
            r["recipe"],
            r["task"],
            r["condition"],
            r["metric"],
            str(r["n"]),
            r["per_seed"],
            pooled,
            f.num(r["tau2"], digits=4),
            "—" if f.missing(r["i2"]) else f"{r['i2']:.0%}",
            f.p_value(r["p_adjusted"]),
        ]
        if equivalence:
            line += [f.num(r["margin"]), f.p_value(r["p_equivalence_adjusted"]), r["verdict"] or "—"]
        table_rows.append(line)
    return Table(
        "pooled",
        "Paired differences (variant - base) pooled over fine-tuning seeds, random effects",
        columns,
        table_rows,
        notes=[
            "Each seed: that seed's variant against the base on the same items. Pooled: random-effects "
            "estimate (seeds x item clusters crossed) whose interval includes the between-seed variance tau^2 "
            "and the shared item-level error. p values corrected across the pooled rows as the study's comparisons "
            "are. †: the seeds agree "
            "more closely than their own intervals predict, so this interval is narrower than the item-level "
            "uncertainty alone would give; read it with the seeds' intervals (forest plot)."
        ],
    )


def _cell_table(study: dict[str, Any], records: dict[str, dict[str, Any]]) -> list[Block]:
    rows = []
    for cell in study["cells"]:
        record = records.get(cell["key"], {})
        variant = record.get("variant") or {}
        ran = record.get("evaluated") or {}
        where = f"{ran['host']} pid {ran['pid']}" if ran else "—"
        logs = ", ".join(Path(p).name for p in record.get("logs", [])) or "—"
        state = cell.get("state", "to do") + (f": {cell['error']}" if cell.get("error") else "")
        rows.append(
            [
                cell["key"],
                cell["base"],
                str(cell["seed"]),
                cell["recipe"],
                state,
                f"{variant.get('name', cell.get('variant', '—'))} ({variant.get('identity', '—')})",
                where,
                logs,
            ]
        )
    return [
        Table(
            "cells",
            f"Cells of the study ({display_path(Path(study.get('study_file', '')))})",
            ["Cell", "Base", "Seed", "Recipe", "State", "Variant (identity)", "Evaluated on", "Logs"],
            rows,
        )
    ]


def _height(rows: list[dict[str, Any]], panel: tuple[str, str]) -> float:
    mine = [r for r in rows if (r["task"], r["metric"]) == panel]
    return float(0.22 * sum(r["n"] + 1.4 for r in mine) + 0.5)


def _positions(labels: list[str]) -> list[float]:
    y, out = 0.0, []
    for label in labels:
        out.append(y)
        y += 1.4 if label.endswith("(pooled)") else 1
    return out


def _size(n: int) -> str:
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"
