"""Every number a report shows, one row each, with an id (S = score, C = paired comparison,
P = probe, D = probe difference) and where it came from: the log files and sample ids (or the
probe predictions) behind it. Tables, results.json and the provenance table are all cut from
this frame, so they cannot disagree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from prosaic_evals.run import Comparison
from prosaic_evals.stats import BinaryDesign, binary_n_needed, n_needed


def score_rows(scores: pd.DataFrame, frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for i, s in enumerate(scores.itertuples(), start=1):
        behind = frame[(frame["task"] == s.task) & (frame["model"] == s.model) & (frame["condition"] == s.condition)
                       & (frame["metric"] == s.metric)]  # fmt: skip
        rows.append({
            "id": f"S{i}", "kind": "score", "task": s.task, "condition": s.condition, "metric": s.metric,
            "model": s.model, "n": s.n, "epochs": s.epochs, "clusters": s.clusters, "estimate": s.score,
            "ci_low": s.ci_low, "ci_high": s.ci_high, "method": s.interval, "p_value": s.p_chance,
            "logs": sorted(set(behind["log"])), "sample_ids": behind["sample_id"].astype(str).tolist(),
        })  # fmt: skip
    return rows


def comparison_rows(comparison: Comparison, effect: float, effect_dz: float, start: int = 1) -> list[dict[str, Any]]:
    frame, rows = comparison.frame, []
    for i, c in enumerate(comparison.comparisons.to_dict(orient="records"), start=start):
        key = (frame["task"] == c["task"]) & (frame["condition"] == c["condition"]) & (frame["metric"] == c["metric"])
        behind = frame[key & frame["model"].isin([c["baseline"], c["model"]])]
        binary = pd.notna(c.get("cohens_h"))
        # the spread of the per-item differences (epochs averaged), on the items both models have the metric for
        base = behind[behind["model"] == c["baseline"]].groupby("sample_id")["value"].mean()
        other = behind[behind["model"] == c["model"]].groupby("sample_id")["value"].mean()
        both = base.index.intersection(other.index)
        sd = float((other[both] - base[both]).std(ddof=1))
        if binary:
            target, size = effect, f"{effect:g}"
            needed = _binary_needed(c.get("power_design"), effect)
        else:  # a standardized effect, in the metric's units through the spread of the item differences
            target, size = effect_dz * sd, f"dz {effect_dz:g}"
            needed = n_needed(c["se"], c["n"], c["clusters"], target)
        rows.append({
            "id": f"C{i}", "kind": "comparison", "task": c["task"], "condition": c["condition"],
            "metric": c["metric"], "model": c["model"], "baseline": c["baseline"], "n": c["n"], "epochs": c["epochs"],
            "unpaired": int(c.get("unpaired") or 0),
            "clusters": c["clusters"], "baseline_score": c["baseline_score"], "model_score": c["model_score"],
            "estimate": c["difference"], "ci_low": c["ci_low"], "ci_high": c["ci_high"], "method": c["ci_method"],
            "test": c["test"], "p_value": c["p_value"], "p_adjusted": c["p_adjusted"],
            "effect_size": c["cohens_h"] if binary else c.get("cohens_dz"), "effect_name": "h" if binary else "dz",
            "odds_ratio": c.get("discordant_odds_ratio") if binary else None, "mde": c["mde"],
            "power_effect": size, "n_needed": needed[0], "n_needed_low": needed[1], "n_needed_high": needed[2],
            "margin": c["margin"], "margin_rule": c.get("margin_rule") or "", "p_equivalence": c["p_equivalence"],
            "p_equivalence_adjusted": c["p_equivalence_adjusted"], "verdict": c["verdict"] or "",
            "logs": sorted(set(behind["log"])),
            "sample_ids": behind[behind["model"] == c["baseline"]]["sample_id"].astype(str).tolist(),
        })  # fmt: skip
    return rows


def _binary_needed(design: Any, effect: float) -> tuple[float, float, float]:
    """Items for 80% power by simulating the comparison's own test on the pilot's design (see stats._power)."""
    if not isinstance(design, str) or not design:
        return float("nan"), float("nan"), float("nan")
    values = json.loads(design)
    if values["design"] is None:  # one cluster: no design to simulate
        return float("nan"), float("nan"), float("nan")
    pilot = BinaryDesign(**(values["design"] | {"trials": tuple(values["design"]["trials"])}))
    return binary_n_needed(pilot, effect, tuple(values["icc_range"]))


def probe_rows(
    folder: Path, display: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any], pd.DataFrame]:
    """The best layer of each probe series (with its controls at that layer), the largest model difference,
    probe.json and the per-layer results (for the figure)."""
    meta = json.loads((folder / "probe.json").read_text())
    results = pd.read_csv(folder / "results.csv").fillna({"condition": ""})
    compared = folder / "comparison.csv"  # only when several models were probed
    comparison = pd.read_csv(compared).fillna({"condition": ""}) if compared.is_file() else pd.DataFrame()
    source = f"{display}/predictions.parquet"
    series, differences = [], []
    tasks = results[(results["target"] == "task") & ~results["model"].str.endswith("(random init)")]
    for key, part in tasks.dropna(subset=["auroc"]).groupby(["model", "condition", "position", "probe"], sort=False):
        best = part.loc[part["auroc"].idxmax()]
        model, condition, position, probe = key
        at = (results["condition"] == condition) & (results["position"] == position) & (results["probe"] == probe) \
            & (results["layer"] == best["layer"])  # fmt: skip

        def control(model_name: str, target: str, column: str = "auroc", at: Any = at) -> Any:
            found = results[at & (results["model"] == model_name) & (results["target"] == target)]
            return float(found[column].iloc[0]) if len(found) else None

        series.append({
            "kind": "probe", "task": meta.get("task") or meta.get("question"), "question": meta.get("question"),
            "model": model, "condition": condition, "position": position, "probe": probe,
            "layer": int(best["layer"]), "n": int(best["n"]), "clusters": int(best["groups"]),
            "estimate": best["auroc"], "ci_low": best["auroc_low"], "ci_high": best["auroc_high"],
            "accuracy": best["accuracy"], "accuracy_low": best["accuracy_low"], "accuracy_high": best["accuracy_high"],
            "p_adjusted": best["p_bh"], "selectivity": best.get("selectivity"),
            "shuffled_auroc": control(model, "shuffled"),
            "random_init_auroc": control(f"{model} (random init)", "task"),
            "method": "AUROC, best layer; 95% cluster bootstrap; p BH across layers",
            "logs": [source], "sample_ids": [f"model={model}, condition={condition}, position={position}, "
                                             f"probe={probe}, layer={int(best['layer'])}"],
        })  # fmt: skip
    if not comparison.empty:
        for key, part in comparison.groupby(["model", "baseline", "condition", "position", "probe"], sort=False):
            top = part.loc[part["difference"].abs().idxmax()]
            model, baseline, condition, position, probe = key
            differences.append({
                "kind": "probe_difference", "task": meta.get("task") or meta.get("question"),
                "question": meta.get("question"), "model": model, "baseline": baseline, "condition": condition,
                "position": position, "probe": probe, "layer": int(top["layer"]), "n": int(top["n"]),
                "clusters": int(top["groups"]), "estimate": top["difference"], "ci_low": top["difference_low"],
                "ci_high": top["difference_high"], "p_adjusted": top["p_bh"],
                "transfer_baseline_to_model": top["transfer_baseline_to_model"],
                "transfer_model_to_baseline": top["transfer_model_to_baseline"], "cosine": top["cosine"],
                "method": "accuracy difference, layer of largest |difference|; paired cluster bootstrap; p BH",
                "logs": [source], "sample_ids": [f"model in ({baseline}, {model}), condition={condition}, "
                                                 f"position={position}, probe={probe}, layer={int(top['layer'])}"],
            })  # fmt: skip
    return series, differences, meta, results


def number_ids(rows: list[dict[str, Any]], prefix: str, start: int = 1) -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i}", **row} for i, row in enumerate(rows, start=start)]
