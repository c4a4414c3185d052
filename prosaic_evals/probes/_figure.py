"""Probe score by layer: one panel per (condition, position) and probe, one line per model and control."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

STYLE = {"task": "-", "shuffled": ":", "control_task": "--"}


def plot(results: pd.DataFrame, stem: Path, say: Callable[[str], None]) -> list[str]:
    """AUROC with its 95% interval against layer; writes `stem`.png and .pdf, returns their names."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        say("warning: matplotlib is not installed, so no figure was drawn (pip install 'prosaic-evals[figures]')")
        return []
    fig, bottom = probe_plot(plt, results)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    written = []
    for suffix in (".png", ".pdf"):
        fig.savefig(stem.with_suffix(suffix), dpi=150)
        written.append(stem.with_suffix(suffix).name)
    plt.close(fig)
    return written


def probe_plot(plt: Any, results: pd.DataFrame) -> tuple[Any, float]:
    """The figure, and the share of its height its legend takes below the panels."""
    panels = list(results.groupby(["condition", "position"], sort=False).groups)
    probes = list(dict.fromkeys(results["probe"]))
    fig, axes = plt.subplots(len(probes), len(panels), figsize=(4.2 * len(panels), 3.2 * len(probes)),
                             squeeze=False, sharey=True)  # fmt: skip
    colours = {m: f"C{i}" for i, m in enumerate(dict.fromkeys(results["model"]))}
    for row, probe in enumerate(probes):
        for col, (condition, position) in enumerate(panels):
            ax = axes[row][col]
            part = results[(results["probe"] == probe) & (results["condition"] == condition)
                           & (results["position"] == position)]  # fmt: skip
            for (model, target), line in part.groupby(["model", "target"], sort=False):
                line = line.sort_values("layer")
                label = model if target == "task" else f"{model}: {target.replace('_', ' ')}"
                ax.plot(line["layer"], line["auroc"], STYLE[target], color=colours[model], label=label, lw=1.4)
                ax.fill_between(line["layer"], line["auroc_low"], line["auroc_high"], color=colours[model],
                                alpha=0.15 if target == "task" else 0.07, lw=0)  # fmt: skip
            ax.axhline(0.5, color="grey", lw=0.8)
            title = " | ".join(str(v) for v in (condition, position, probe) if v)
            ax.set(title=title, xlabel="layer", ylim=(0.0, 1.0))
            if col == 0:
                ax.set_ylabel("AUROC (95% cluster bootstrap)")
    # below the panels: inside one, the legend covered the curves
    from prosaic_evals.report._figures import legend_below

    return fig, legend_below(fig, axes, columns=2)
