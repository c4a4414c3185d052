"""The probe results as terminal tables: the best layer of each series, and model differences."""

from __future__ import annotations

from typing import Any

from prosaic_evals.probes._run import ProbeResult


def render_probe(result: ProbeResult) -> Any:
    from rich.console import Group
    from rich.table import Table

    frame = result.results
    best = Table(
        "model",
        "condition",
        "position",
        "probe",
        "target",
        "best layer",
        "AUROC [95% CI]",
        "accuracy [95% CI]",
        "chance",
        "p (BH)",
        "selectivity",
        title="Probe score at the best layer",
    )
    for key, part in frame.dropna(subset=["auroc"]).groupby(
        ["model", "condition", "position", "probe", "target"], sort=False
    ):
        row = part.loc[part["auroc"].idxmax()]
        sel = row.get("selectivity")
        best.add_row(
            *[str(k) for k in key],
            str(int(row["layer"])),
            _ci(row, "auroc"),
            _ci(row, "accuracy"),
            f"{row['chance']:.2f}",
            _p(row["p_bh"]),
            "" if sel is None or sel != sel else f"{sel:+.2f}",
        )
    parts: list[Any] = [best]
    if not result.comparison.empty:
        comp = result.comparison
        table = Table(
            "model - baseline",
            "condition",
            "position",
            "probe",
            "layer",
            "accuracy difference [95% CI]",
            "p (BH)",
            "transfer b->m",
            "transfer m->b",
            "cosine",
            title="Layer with the largest difference",
        )
        for key, part in comp.groupby(["model", "baseline", "condition", "position", "probe"], sort=False):
            row = part.loc[part["difference"].abs().idxmax()]
            table.add_row(
                f"{key[0]} - {key[1]}",
                *[str(k) for k in key[2:]],
                str(int(row["layer"])),
                f"{row['difference']:+.2f} [{row['difference_low']:+.2f}, {row['difference_high']:+.2f}]",
                _p(row["p_bh"]),
                f"{row['transfer_baseline_to_model']:.2f}",
                f"{row['transfer_model_to_baseline']:.2f}",
                f"{row['cosine']:.2f}",
            )
        parts.append(table)
    return Group(*parts)


def _ci(row: Any, name: str) -> str:
    return f"{row[name]:.2f} [{row[name + '_low']:.2f}, {row[name + '_high']:.2f}]"


def _p(p: float) -> str:
    return "" if p != p else (f"{p:.1e}" if p < 0.001 else f"{p:.3f}")
