"""`prosaic-evals compare`: models on identical items, paired statistics per condition and metric."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from prosaic_evals._errors import UserError
from prosaic_evals.run._results import summarize
from prosaic_evals.stats import PairedResult, adjust, compare_paired

KEYS = ["task", "condition", "metric"]


@dataclass(frozen=True)
class Comparison:
    baseline: str
    correction: str
    scores: pd.DataFrame
    """Each model's score with its 95% interval, per task, condition and metric."""

    comparisons: pd.DataFrame
    """Each model against the baseline: paired difference, interval, test, corrected p, effect sizes, MDE."""

    frame: pd.DataFrame
    """The per-sample rows behind every number."""


def compare_frame(
    frame: pd.DataFrame, *, baseline: str | None = None, correction: str = "holm", only: list[str] | None = None
) -> Comparison:
    """Each model against `baseline` (default: the first) item by item; `only`: compare just these models."""
    if only:
        logged = list(dict.fromkeys(frame["model"]))
        frame = frame[frame["model"].isin([_pick(logged, m, "--model") for m in only])]
    _check_one_log_per_model(frame)
    models = list(dict.fromkeys(frame["model"]))
    if len(models) < 2:
        raise UserError(f"comparing needs at least two models; the logs hold {', '.join(models) or 'none'}")
    base = _pick(models, baseline)
    rows = []
    for key, group in frame.sort_values("condition_rank", kind="stable").groupby(KEYS, sort=False):
        reference = group[group["model"] == base].set_index("sample_id")
        for model in models:
            if model == base:
                continue
            other = group[group["model"] == model].set_index("sample_id")
            _check_same_items(dict(zip(KEYS, key, strict=True)), base, reference, model, other)
            other = other.loc[reference.index]
            result = compare_paired(other["value"], reference["value"], reference["cluster"].tolist())
            rows.append(dict(zip(KEYS, key, strict=True)) | {"baseline": base, "model": model} | _flatten(result))
    table = pd.DataFrame(rows)
    # `metric/part` rows break a metric down (e.g. correct/german): descriptive, outside the corrected family.
    primary = ~table["metric"].str.contains("/", regex=False)
    table["p_adjusted"] = float("nan")
    table.loc[primary, "p_adjusted"] = adjust(table.loc[primary, "p_value"].tolist(), correction)
    order = ["task", "condition", "metric", "baseline", "model", "n", "clusters", "baseline_score", "model_score",
             "difference", "ci_low", "ci_high", "ci_method", "test", "p_value", "p_adjusted", "mde"]  # fmt: skip
    table = table[order + [c for c in table.columns if c not in order]]
    return Comparison(base, correction, summarize(frame), table, frame)


def _pick(models: list[str], name: str | None, option: str = "--baseline") -> str:
    if name is None:
        return models[0]
    matches = [m for m in models if m == name or m.endswith("/" + name)]
    if len(matches) != 1:
        raise UserError(f"{option} {name!r} matches {len(matches)} of the models ({', '.join(models)})")
    return matches[0]


def _check_one_log_per_model(frame: pd.DataFrame) -> None:
    """A model's sample in two logs would be paired twice: refuse rather than pick one silently."""
    logs = frame.drop_duplicates(["task", "model", "sample_id", "log"])
    twice = logs[logs.duplicated(["task", "model", "sample_id"], keep=False)]
    if not twice.empty:
        first = twice.iloc[0]
        paths = ", ".join(sorted(set(twice[twice["model"] == first["model"]]["log"])))
        raise UserError(
            f"{first['model']} answered task {first['task']} in more than one log ({paths}); "
            "give one log per model and task, or pick models with --model"
        )


def _check_same_items(key: dict[str, Any], base: str, reference: pd.DataFrame, model: str, other: pd.DataFrame) -> None:
    missing, extra = reference.index.difference(other.index), other.index.difference(reference.index)
    if len(missing) or len(extra):
        where = f"task {key['task']}, condition {key['condition']}"
        example = (missing.tolist() or extra.tolist())[0]
        raise UserError(
            f"{where}: sample ids differ between {base} and {model} ({len(missing)} only in {base}, "
            f"{len(extra)} only in {model}, e.g. {example}); compare runs of the same task, parameters and --limit"
        )


def _flatten(result: PairedResult) -> dict[str, Any]:
    values: dict[str, Any] = asdict(result)
    effects: dict[str, Any] = values.pop("effects")
    values["baseline_score"], values["model_score"] = values.pop("baseline"), values.pop("model")
    return values | effects


def write_outputs(comparison: Comparison, directory: Path, *, extra: dict[str, Any] | None = None) -> list[Path]:
    """scores.csv, comparison.csv, comparison.json and samples.csv (each written whole or not at all)."""
    directory.mkdir(parents=True, exist_ok=True)
    payload = {
        "baseline": comparison.baseline,
        "correction": comparison.correction,
        **(extra or {}),
        "scores": comparison.scores.to_dict(orient="records"),
        "comparisons": comparison.comparisons.to_dict(orient="records"),
    }
    outputs = {
        "scores.csv": comparison.scores.to_csv(index=False),
        "comparison.csv": comparison.comparisons.to_csv(index=False),
        "comparison.json": json.dumps(payload, indent=2, default=str, allow_nan=True) + "\n",
        "samples.csv": comparison.frame.drop(columns=["condition_rank"]).to_csv(index=False),
    }
    paths = []
    for name, text in outputs.items():
        path = directory / name
        tmp = path.with_name(name + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
        paths.append(path)
    return paths


def render_comparison(comparison: Comparison) -> Any:
    """One table per task: each model against the baseline, per condition and metric."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    tables: list[Any] = []
    for (task, model), rows in comparison.comparisons.groupby(["task", "model"], sort=False):
        table = Table(title=f"{task} · {model} vs {comparison.baseline}", title_justify="left", title_style="bold")
        columns = (
            "condition",
            "metric",
            "baseline",
            "model",
            "difference [95% CI]",
            "p",
            "p adjusted",
            "effect",
            "MDE",
        )
        for column in columns:
            table.add_column(column, justify="left" if column in ("condition", "metric", "effect") else "right")
        for r in rows.itertuples():
            table.add_row(
                r.condition, r.metric, f"{r.baseline_score:.3f}", f"{r.model_score:.3f}",
                f"{r.difference:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]", _p(r.p_value), _p(r.p_adjusted),
                _effect(r._asdict()), f"{r.mde:.3f}",
            )  # fmt: skip
        tables.append(table)
    tests = ", ".join(sorted(set(comparison.comparisons["test"].str.replace(r" \(\d+ clusters\)", "", regex=True))))
    correction = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "none"}[comparison.correction]
    family = int(comparison.comparisons["p_adjusted"].notna().sum())
    breakdowns = len(comparison.comparisons) - family
    scope = (
        f"all {family} comparisons"
        if not breakdowns
        else (
            f"the {family} comparisons of whole metrics "
            f"({breakdowns} metric/part breakdown rows are descriptive, uncorrected)"
        )
    )
    tables.append(
        Text(f"Tests: {tests}. p adjusted: {correction} over {scope}. "
             "MDE: smallest difference detectable with 80% power at alpha 0.05.")
    )  # fmt: skip
    return Group(*tables)


def _p(p: float) -> str:
    if pd.isna(p):
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _effect(row: dict[str, Any]) -> str:
    if pd.notna(row.get("cohens_h")):
        return f"h={row['cohens_h']:+.2f}, OR={row['discordant_odds_ratio']:.3g}"
    return f"dz={row['cohens_dz']:+.2f}"
