"""The report's figures, PNG and PDF: scores per condition for each model, a forest plot of the
paired differences, and probe score by layer. Without matplotlib they are skipped, and the
report says so in a warning. Legends sit below the panels, never over data."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd


def pyplot() -> Any | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


DIAGNOSTIC = ("unparseable", "judge_unparseable", "refusal", "code_answer", "agrees_with_text")
"""Metrics that say how well a run could be read, not what the model did: in the tables, not the figure."""


def figure_panels(scores: pd.DataFrame) -> pd.DataFrame:
    """The scores a figure shows: whole metrics about behaviour (no parts `a/b`, no diagnostics)."""
    metric = scores["metric"].astype(str)
    keep = ~metric.str.contains("/") & ~metric.str.startswith(DIAGNOSTIC)
    return scores[keep]


def scores_figure(plt: Any, scores: pd.DataFrame, stem: Path) -> None:
    """One panel per (task, metric): each condition a row, each model a point with its interval."""
    fig, bottom = scores_plot(plt, scores, short)
    save(plt, fig, stem, bottom)


def scores_plot(plt: Any, scores: pd.DataFrame, label: Any) -> tuple[Any, float]:
    """The figure, and the share of its height that its legend takes at the bottom."""
    panels = list(figure_panels(scores).groupby(["task", "metric"], sort=False))
    models = list(dict.fromkeys(scores["model"]))
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    height = max(len(p["condition"].unique()) for _, p in panels) * 0.45 + 1.2
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, height * rows), squeeze=False)
    for ax, ((task, metric), part) in zip(axes.flat, panels, strict=False):
        conditions = list(dict.fromkeys(part["condition"]))
        for j, model in enumerate(models):
            mine = part[part["model"] == model].set_index("condition").reindex(conditions)
            y = [i + (j - (len(models) - 1) / 2) * 0.18 for i in range(len(conditions))]
            low = (mine["score"] - mine["ci_low"]).clip(lower=0)
            high = (mine["ci_high"] - mine["score"]).clip(lower=0)
            ax.errorbar(mine["score"], y, xerr=[low, high], fmt="o", ms=4, capsize=2, color=f"C{j}",
                        label=label(model))  # fmt: skip
        ax.set_yticks(range(len(conditions)), conditions, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(f"{task}: {metric}", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    return fig, legend_below(fig, axes) if len(models) > 1 else 0.0


def legend_below(fig: Any, axes: Any, columns: int = 3) -> float:
    """The panels' labelled lines as one legend under all of them (a legend inside a panel can hide data);
    returns the share of the figure's height it takes, for `save` to lay the panels out above it."""
    unique: dict[str, Any] = {}
    for ax in getattr(axes, "flat", axes):
        handles, labels = ax.get_legend_handles_labels()
        unique |= {label: handle for label, handle in zip(labels, handles, strict=True) if label not in unique}
    if not unique:
        return 0.0
    ncol = min(columns, len(unique))
    fig.legend(list(unique.values()), list(unique), loc="lower center", ncol=ncol, fontsize=7, frameon=False)
    height = 0.22 * math.ceil(len(unique) / ncol) + 0.1  # inches the legend's rows take
    return float(height / fig.get_figheight())


def forest_figure(plt: Any, rows: list[dict[str, Any]], stem: Path) -> None:
    """Paired differences (model - baseline) with 95% intervals: one panel per metric (metrics have their own
    units), one line per comparison."""
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    sizes = [sum(r["metric"] == m for r in rows) for m in metrics]
    fig, axes = plt.subplots(len(metrics), 1, figsize=(7.5, 0.3 * len(rows) + 0.9 * len(metrics)), squeeze=False,
                             gridspec_kw={"height_ratios": sizes})  # fmt: skip
    for ax, metric in zip(axes[:, 0], metrics, strict=True):
        mine = [r for r in rows if r["metric"] == metric]
        for i, row in enumerate(mine):
            significant = row["p_adjusted"] == row["p_adjusted"] and row["p_adjusted"] < 0.05
            colour = "C3" if significant else "C0"
            ax.plot([row["ci_low"], row["ci_high"]], [i, i], color=colour, lw=1.5)
            ax.plot([row["estimate"]], [i], "o", color=colour, ms=4)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(range(len(mine)), [f"{r['id']} {r['task']} · {r['condition']}" for r in mine], fontsize=7)
        ax.set_ylim(len(mine) - 0.5, -0.5)
        ax.set_title(metric, fontsize=8, loc="left")
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("difference, model - baseline (95% CI); red: adjusted p < 0.05", fontsize=8)
    save(plt, fig, stem)


def save(plt: Any, fig: Any, stem: Path, bottom: float = 0.0) -> None:
    """PNG and PDF; `bottom`: the share of the height kept free for a legend below the panels."""
    fig.tight_layout(rect=(0, bottom, 1, 1))
    for suffix in (".png", ".pdf"):
        fig.savefig(stem.with_suffix(suffix), dpi=150)
    plt.close(fig)


def short(model: str) -> str:
    """A model's label in tables and figures: without inspect's provider prefix for our managed servers, and a
    variant by its name (the full model string and its identity are in a note under the tables)."""
    return model.removeprefix("prosaic-vllm/").removeprefix("variant/")
