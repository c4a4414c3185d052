"""From inspect logs to a per-sample frame and a per-condition summary."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from prosaic_evals._errors import UserError
from prosaic_evals.stats import chance_test, score_interval

SAMPLE_COLUMNS = [
    "log", "task", "task_version", "model", "sample_id", "condition", "cluster",
    "scorer", "metric", "value", "answer", "cached", "condition_rank",
]  # fmt: skip


def sample_frame(logs: Iterable[str | Path]) -> pd.DataFrame:
    """One row per (log, sample, metric): every number in a summary traces back to these."""
    from inspect_ai.log import read_eval_log

    rows: list[dict[str, Any]] = []
    for path in logs:
        log = read_eval_log(str(path))
        for sample in log.samples or []:
            rows += _sample_rows(str(path), log, sample)
    return pd.DataFrame(rows, columns=SAMPLE_COLUMNS)


def _sample_rows(path: str, log: Any, sample: Any) -> list[dict[str, Any]]:
    from inspect_ai.scorer import value_to_float

    to_float = value_to_float()
    order = list((log.eval.metadata or {}).get("conditions", []))
    condition = sample.metadata.get("condition", "")
    base = {
        "log": path,
        "task": log.eval.task,
        "task_version": log.eval.task_version,
        "model": log.eval.model,
        "sample_id": sample.id,
        "condition": condition,
        "condition_rank": order.index(condition) if condition in order else len(order),
        "cluster": str(sample.metadata.get("cluster", sample.id)),
    }
    rows = []
    for scorer, score in (sample.scores or {}).items():
        values = score.value if isinstance(score.value, dict) else {scorer: score.value}
        cached = _was_cached(sample, score)
        for metric, value in values.items():
            value = to_float(value)
            if value != value:  # NaN: the metric does not apply to this sample (articulation of an unswitched one)
                continue
            rows.append(
                {
                    **base,
                    "scorer": scorer,
                    "metric": metric,
                    "value": value,
                    "answer": score.answer,
                    "cached": cached,
                }
            )
    return rows


def _was_cached(sample: Any, score: Any) -> bool:
    """True when producing the sample called no model (inspect cache or our log-prob cache)."""
    if score.metadata and "cached" in score.metadata:
        return bool(score.metadata["cached"])
    calls = [e for e in sample.events if e.event == "model"]
    return all(e.cache == "read" for e in calls)


PROBABILITIES = {"p_correct", "calibration_error", "aoc"}

PAIRED_DIFFERENCES = {"contrast", "accuracy_drop", "cue_effect"}
"""Per-item paired differences (target vs distractors; uncued vs cued answer): tested against 0."""
"""Continuous metrics that live in [0, 1]: their t intervals are truncated to it."""


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """n, score and 95% interval per task, model, condition and metric."""
    if frame.empty:
        raise UserError("the logs contain no scored samples")
    rows = []
    keys = ["task", "model", "condition", "metric"]
    frame = frame.sort_values("condition_rank", kind="stable")  # the task file's order
    for key, group in frame.groupby(keys, sort=False):
        values, clusters = group["value"].tolist(), group["cluster"].tolist()
        interval = score_interval(values, clusters)
        # Paired per-item differences: is their mean different from 0 (sign-flip test)?
        p_chance = chance_test(values, clusters) if key[-1] in PAIRED_DIFFERENCES else float("nan")
        low, high = interval.low, interval.high
        if key[-1] in PROBABILITIES:
            low, high = max(low, 0.0), min(high, 1.0)
        rows.append(
            dict(zip(keys, key, strict=True))
            | {
                "n": interval.n,
                "clusters": interval.clusters,
                "score": interval.estimate,
                "ci_low": low,
                "ci_high": high,
                "interval": interval.method,
                "p_chance": p_chance,
            }
        )
    return pd.DataFrame(rows)


def render(summary: pd.DataFrame, frame: pd.DataFrame) -> Any:
    """Rich tables of the summary, one per task and model, and how many samples called a model."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    tables: list[Any] = []
    for (task, model), rows in summary.groupby(["task", "model"], sort=False):
        table = Table(title=f"{task} · {model}", title_justify="left", title_style="bold")
        chance = bool(rows["p_chance"].notna().any())
        columns = ("condition", "metric", "n", "score", "95% CI", *(("p (= 0)",) if chance else ()), "method")
        for column in columns:
            table.add_column(column, justify="left" if column in ("condition", "metric", "method") else "right")
        for row in rows.itertuples():
            cells = [
                row.condition,
                row.metric,
                str(row.n),
                f"{row.score:.3f}",
                f"[{row.ci_low:.3f}, {row.ci_high:.3f}]",
            ]
            if chance:
                cells.append("" if pd.isna(row.p_chance) else f"{row.p_chance:.3g}")
            table.add_row(*cells, row.interval)
        tables.append(table)
    per_sample = frame.drop_duplicates(["log", "sample_id"])
    calls = int((~per_sample["cached"].astype(bool)).sum())
    tables.append(
        Text(f"{len(per_sample)} samples; {calls} called a model, {len(per_sample) - calls} came from the cache.")
    )
    return Group(*tables)
