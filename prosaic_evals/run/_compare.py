"""`prosaic-evals compare`: models on identical items, paired statistics per condition and metric."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from prosaic_evals._errors import UserError
from prosaic_evals.run._results import summarize
from prosaic_evals.stats import PairedResult, adjust, compare_paired, verdict
from prosaic_evals.stats._paired import MarginError

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

    margins: dict[str, float | str] = field(default_factory=dict)
    """Equivalence margins per metric (given on the command line or in a study)."""


Margin = float | str
"""An equivalence margin in the metric's units, or `"P% of CONDITION"`: P percent of the same models'
difference in a positive-control condition of the same task (e.g. the trained direction)."""


def compare_frame(
    frame: pd.DataFrame,
    *,
    baseline: str | None = None,
    correction: str = "holm",
    only: list[str] | None = None,
    margins: dict[str, Margin] | None = None,
) -> Comparison:
    """Each model against `baseline` (default: the first) item by item; `only`: compare just these models.

    `margins`: equivalence margin per metric, for a TOST beside each difference test; where none is given,
    a task file's own `margins:` (recorded in its logs) apply to that task.
    """
    if only:
        logged = list(dict.fromkeys(frame["model"]))
        frame = frame[frame["model"].isin([_pick(logged, m, "--model") for m in only])]
    _check_one_log_per_model(frame)
    models = list(dict.fromkeys(frame["model"]))
    if len(models) < 2:
        raise UserError(f"comparing needs at least two models; the logs hold {', '.join(models) or 'none'}")
    base = _pick(models, baseline)
    margins = check_margins(margins or {}, frame)
    stated = logged_margins(frame)
    rows = []
    for (task, condition), answered in frame.groupby(["task", "condition"], sort=False):
        # the samples asked must match; a metric the scorer left out for some (NaN) pairs where both have it
        asked = answered.drop_duplicates(["model", "sample_id", "epoch"]).set_index(["sample_id", "epoch"])
        for model in models:
            if model != base:
                _check_same_items({"task": task, "condition": condition}, base, asked[asked["model"] == base],
                                  model, asked[asked["model"] == model])  # fmt: skip
    for key, group in frame.sort_values("condition_rank", kind="stable").groupby(KEYS, sort=False):
        for model in models:
            if model == base:
                continue
            reference = group[group["model"] == base].set_index(["sample_id", "epoch"])
            other = group[group["model"] == model].set_index(["sample_id", "epoch"])
            both = reference.index.intersection(other.index, sort=False)
            unpaired = 0
            if len(both) < max(len(reference), len(other)):  # the metric is missing from some answers
                reference, other = _item_means(reference), _item_means(other)
                both = reference.index.intersection(other.index, sort=False)
                unpaired = int(reference["answers"].sum() + other["answers"].sum()
                               - reference.loc[both, "answers"].sum() - other.loc[both, "answers"].sum())  # fmt: skip
            if not len(both):
                continue  # the metric applies to no sample both models answered (e.g. no coherent answer)
            reference, other = reference.loc[both], other.loc[both]
            items = [str(i) for i in reference.index.get_level_values(0)]
            given = margins.get(key[2], stated.get(key[0], {}).get(key[2]))
            margin = _resolve(given, frame, key, base, model)
            try:
                result = compare_paired(other["value"], reference["value"], reference["cluster"].tolist(),
                                        items=items, margin=margin)  # fmt: skip
            except MarginError as e:
                raise UserError(f"--margin {key[2]}: task {key[0]}, condition {key[1]}: {e}") from None
            rule = given if isinstance(given, str) and margin is not None else ""
            rows.append(dict(zip(KEYS, key, strict=True)) | {"baseline": base, "model": model, "margin_rule": rule,
                        "unpaired": unpaired} | _flatten(result))  # fmt: skip
    if not rows:
        raise UserError("no metric was scored on a sample that both models answered")
    table = corrected(pd.DataFrame(rows), correction)
    order = ["task", "condition", "metric", "baseline", "model", "n", "epochs", "clusters", "baseline_score",
             "model_score", "difference", "ci_low", "ci_high", "ci_method", "test", "p_value", "p_adjusted", "margin",
             "margin_rule", "p_equivalence", "p_equivalence_adjusted", "verdict", "mde"]  # fmt: skip
    table = table[order + [c for c in table.columns if c not in order]]
    return Comparison(base, correction, summarize(frame), table, frame, margins)


def _item_means(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per item: the mean over the epochs that have the metric (and how many did), as epoch 1. An item is
    the unit of pairing when a metric is missing from some answers: sampled epochs of one item are exchangeable, so
    epoch k of one model has no special partner in the other's."""
    grouped = rows.groupby(level=0, sort=False)
    means = grouped.agg(value=("value", "mean"), cluster=("cluster", "first"), answers=("value", "size"))
    means.index = pd.MultiIndex.from_arrays([means.index, [1] * len(means)], names=["sample_id", "epoch"])
    return means


def corrected(table: pd.DataFrame, correction: str) -> pd.DataFrame:
    """`table` with p values adjusted across its rows of whole metrics, and their verdicts. `metric/part` rows
    break a metric down (e.g. correct/german): descriptive, outside the corrected family."""
    table = table.copy()
    primary = ~table["metric"].str.contains("/", regex=False)
    table["p_adjusted"] = float("nan")
    table.loc[primary, "p_adjusted"] = adjust(table.loc[primary, "p_value"].tolist(), correction)
    table["p_equivalence_adjusted"] = float("nan")
    table.loc[primary, "p_equivalence_adjusted"] = adjust(table.loc[primary, "p_equivalence"].tolist(), correction)
    table["verdict"] = [
        verdict(p, q) if primary_row else ""
        for p, q, primary_row in zip(table["p_adjusted"], table["p_equivalence_adjusted"], primary, strict=True)
    ]
    return table


def logged_margins(frame: pd.DataFrame) -> dict[str, dict[str, Margin]]:
    """The `margins:` each task file states, as recorded in its logs (task -> metric -> margin)."""
    from prosaic_evals.run._results import read_log

    found: dict[str, dict[str, Margin]] = {}
    for task, path in frame.drop_duplicates("task")[["task", "log"]].itertuples(index=False):
        if Path(str(path)).is_file():  # frames built in memory (tests) have no logs to read
            found[task] = dict(read_log(path, header_only=True).eval.metadata.get("margins") or {})
    return found


def relative_margin(value: str) -> tuple[float, str] | None:
    """`"25% of p2d_same"` -> (0.25, "p2d_same"); None when `value` is not of that form."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*%\s+of\s+(\S+)\s*", value)
    if not match or not float(match.group(1)) > 0:
        return None
    return float(match.group(1)) / 100, match.group(2)


def margin_forms(value: dict[str, Margin]) -> dict[str, Margin]:
    """For file validators: a text margin must read `P% of CONDITION`."""
    for metric, margin in value.items():
        if isinstance(margin, str) and not relative_margin(margin):
            raise ValueError(f"margin {metric}={margin!r}: expected a positive number or 'P% of CONDITION'")
    return value


def _resolve(
    given: Margin | None, frame: pd.DataFrame, key: tuple[str, str, str], base: str, model: str
) -> float | None:
    """A relative margin is that share of |model - baseline| in the control condition (same task and metric)."""
    if given is None or not isinstance(given, str):
        return given
    share, control = relative_margin(given) or (0.0, "")
    task, _, metric = key
    anywhere = frame[(frame["condition"] == control) & (frame["metric"] == metric)]
    if anywhere.empty:
        conditions = ", ".join(sorted(set(frame.loc[frame["metric"] == metric, "condition"])))
        raise UserError(f"margin {metric}={given!r}: no task has a condition {control!r} "
                        f"with metric {metric} (conditions: {conditions})")  # fmt: skip
    rows = anywhere[anywhere["task"] == task]
    if rows.empty:  # this task has no such control: its rows get no margin (another task's do)
        return None
    means = rows.groupby(["model", "sample_id"])["value"].mean().groupby("model").mean()
    effect = abs(float(means.get(model, float("nan")) - means.get(base, float("nan"))))
    if not effect > 0:
        raise UserError(f"margin {metric}={given!r}: the control condition {control} shows no difference "
                        f"between {model} and {base} in task {task}, so a margin relative to it is 0")  # fmt: skip
    return share * effect


def check_margins(margins: dict[str, Margin], frame: pd.DataFrame) -> dict[str, Margin]:
    """Every margin names a metric of these logs and is a positive number or `P% of CONDITION`."""
    metrics = sorted(set(frame["metric"]))
    for metric, margin in margins.items():
        if metric not in metrics:
            raise UserError(f"--margin {metric}: no metric {metric!r} in the logs (metrics: {', '.join(metrics)})")
        if isinstance(margin, str) and relative_margin(margin):
            continue
        if isinstance(margin, bool) or not (isinstance(margin, int | float) and 0 < margin < float("inf")):
            raise UserError(f"--margin {metric}={margin}: a margin must be a positive number or 'P% of CONDITION'")
    return margins


def parse_margins(values: tuple[str, ...] | list[str]) -> dict[str, Margin]:
    """`metric=value` pairs (from --margin) to a dict; one line naming the bad one otherwise."""
    margins: dict[str, Margin] = {}
    for text in values:
        metric, sep, number = text.partition("=")
        try:
            margin: Margin = float(number)
        except ValueError:
            margin = number if relative_margin(number) else float("nan")
        if not sep or not metric.strip() or not (isinstance(margin, str) or 0 < margin < float("inf")):
            raise UserError(f"--margin {text!r}: expected METRIC=VALUE with a positive VALUE (e.g. correct=0.05) "
                            "or METRIC='P% of CONDITION'")  # fmt: skip
        margins[metric.strip()] = margin
    return margins


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
        sample, epoch = (missing.tolist() or extra.tolist())[0]
        example = sample if epoch == 1 else f"{sample} epoch {epoch}"
        raise UserError(
            f"{where}: samples differ between {base} and {model} ({len(missing)} only in {base}, "
            f"{len(extra)} only in {model}, e.g. {example}); compare runs of the same task, parameters and --limit"
        )


def _flatten(result: PairedResult) -> dict[str, Any]:
    values: dict[str, Any] = asdict(result)
    effects: dict[str, Any] = values.pop("effects")
    design = values.pop("design")
    # what a power calculation for another effect needs (report: n needed), as one JSON cell
    values["power_design"] = json.dumps(design, default=float) if design.get("kind") == "binary" else ""
    values["baseline_score"], values["model_score"] = values.pop("baseline"), values.pop("model")
    return values | effects


def write_outputs(comparison: Comparison, directory: Path, *, extra: dict[str, Any] | None = None) -> list[Path]:
    """scores.csv, comparison.csv, comparison.json and samples.csv (each written whole or not at all)."""
    directory.mkdir(parents=True, exist_ok=True)
    payload = {
        "baseline": comparison.baseline,
        "correction": comparison.correction,
        "margins": comparison.margins,
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
    equivalence = bool(comparison.comparisons["margin"].notna().any())
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
            *(("margin", "p equiv.", "verdict") if equivalence else ()),
        )
        for column in columns:
            table.add_column(column, justify="left" if column in ("condition", "metric", "effect") else "right")
        for r in rows.itertuples():
            table.add_row(
                r.condition, r.metric, f"{r.baseline_score:.3f}", f"{r.model_score:.3f}",
                f"{r.difference:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]", _p(r.p_value), _p(r.p_adjusted),
                _effect(r._asdict()), f"{r.mde:.3f}",
                *((_margin(r.margin), _p(r.p_equivalence_adjusted), r.verdict) if equivalence else ()),
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
    tost = (
        " p equiv.: two one-sided tests against |difference| >= margin (same method and correction); verdict "
        "from both adjusted p-values at 0.05."
        if equivalence
        else ""
    )
    tables.append(
        Text(f"Tests: {tests}. Each interval excludes 0 exactly when its p < 0.05. p adjusted: {correction} over "
             f"{scope}. MDE: smallest difference detectable with 80% power at alpha 0.05 by the test used.{tost}")
    )  # fmt: skip
    return Group(*tables)


def _p(p: float) -> str:
    if pd.isna(p):
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _margin(margin: float) -> str:
    return "—" if pd.isna(margin) else f"±{margin:.3g}"


def _effect(row: dict[str, Any]) -> str:
    if pd.notna(row.get("cohens_h")):
        return f"h={row['cohens_h']:+.2f}, OR={row['discordant_odds_ratio']:.3g}"
    return f"dz={row['cohens_dz']:+.2f}"
