"""From inspect logs to a per-sample frame and a per-condition summary."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from prosaic_evals._errors import UserError
from prosaic_evals.stats import score_interval

SAMPLE_COLUMNS = [
    "log", "task", "task_version", "model", "sample_id", "epoch", "condition", "cluster",
    "scorer", "metric", "value", "answer", "cached", "condition_rank",
]  # fmt: skip


def sample_frame(logs: Iterable[str | Path]) -> pd.DataFrame:
    """One row per (log, sample, metric): every number in a summary traces back to these."""
    rows: list[dict[str, Any]] = []
    for path in logs:
        log = read_log(path)
        for sample in log.samples or []:
            rows += _sample_rows(str(path), log, sample)
    return pd.DataFrame(rows, columns=SAMPLE_COLUMNS)


def read_log(path: str | Path, *, header_only: bool = False) -> Any:
    """An inspect log; a damaged, empty or foreign file is one line naming it."""
    from inspect_ai.log import read_eval_log

    try:
        return read_eval_log(str(path), header_only=header_only)
    except Exception as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path}: not a readable inspect log ({reason[:200]})") from None


def current_logs(paths: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """The logs to read, and a note for each left out: an unfinished log superseded by its retry
    (`inspect eval-retry` keeps the task id, and the retry holds the samples of the log it retried).

    The logs come in the order their run listed the models (a study's base first: the default baseline),
    not in that of their file names, whose random part orders the models of one run by chance."""
    headers = [(Path(path), read_log(path, header_only=True)) for path in paths]
    listed = dict.fromkeys(model for _, h in headers for model in (h.eval.metadata or {}).get("models") or {})
    rank = {model: i for i, model in enumerate(listed)}
    headers.sort(key=lambda pair: rank.get(pair[1].eval.model, len(rank)))
    retried = {}
    for path, header in headers:
        for other, later in headers:
            same = other != path and later.eval.task_id == header.eval.task_id and later.eval.model == header.eval.model
            if same and header.status != "success" and later.eval.created > header.eval.created:
                retried[path] = other
    notes = [f"{path} is superseded by its retry {by} and is left out" for path, by in retried.items()]
    return [path for path, _ in headers if path not in retried], notes


def planned_samples(log: Any) -> int:
    """Samples the run was asked for: the dataset, cut by `--limit`, times the epochs."""
    if log.status == "success" and log.results and log.results.total_samples:
        return int(log.results.total_samples)
    n = int(log.eval.dataset.samples or 0)
    limit = log.eval.config.limit
    if isinstance(limit, int):
        n = min(n, limit)
    elif isinstance(limit, tuple | list) and len(limit) == 2:
        n = min(n, int(limit[1]) - int(limit[0]))
    return n * int(log.eval.config.epochs or 1)


def partial_notes(logs: Iterable[str | Path], frame: pd.DataFrame) -> list[str]:
    """One line per log of a run that did not finish: its status, and how many of the samples asked for it holds."""
    notes = []
    for path in logs:
        log = read_log(path, header_only=True)
        if log.status == "success":
            continue
        scored = frame.loc[frame["log"] == str(path), "sample_id"].nunique()
        notes.append(
            f"{path} did not finish (status {log.status}): {scored} of {planned_samples(log)} samples were "
            "scored, and only those are shown; run the same command again to finish it"
        )
    return notes


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
        "epoch": int(sample.epoch or 1),
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


PAIRED_DIFFERENCES = {"contrast", "accuracy_drop", "cue_effect"}
"""Per-item paired differences (target vs distractors; uncued vs cued answer): tested against 0 (chance)
by the exact cluster sign-flip test, whose inversion is also their interval."""


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """n, score and 95% interval per task, model, condition and metric."""
    if frame.empty:
        raise UserError("the logs contain no scored samples")
    rows = []
    keys = ["task", "model", "condition", "metric"]
    frame = frame.sort_values("condition_rank", kind="stable")  # the task file's order
    for key, group in frame.groupby(keys, sort=False):
        values, clusters, items = group["value"].tolist(), group["cluster"].tolist(), group["sample_id"].astype(str)
        chance = key[-1] in PAIRED_DIFFERENCES
        interval = score_interval(values, clusters, items=items.tolist(), exchangeable=chance)
        p_chance = interval.p_zero  # the same exact test the interval inverts (NaN for other metrics)
        low, high = interval.low, interval.high  # inside the observed values' range, so [0, 1] for probabilities
        rows.append(
            dict(zip(keys, key, strict=True))
            | {
                "n": interval.n,
                "epochs": interval.epochs,
                "clusters": interval.clusters,
                "score": interval.estimate,
                "ci_low": low,
                "ci_high": high,
                "interval": interval.method,
                "p_chance": p_chance,
            }
        )
    return pd.DataFrame(rows)


MIN_CLUSTERS = 6
"""With k clusters the smallest p the exact sign-flip (chance) test can give is 2 / 2^k: at 5 or fewer it
cannot reach 0.05, and the other intervals rest on 4 or fewer degrees of freedom."""


def few_cluster_notes(summary: pd.DataFrame) -> list[str]:
    """One warning per task and model whose rows have too few clusters for an interval or test to mean much."""
    notes = []
    for (task, model), rows in summary.groupby(["task", "model"], sort=False):
        thin = rows[rows["clusters"] < MIN_CLUSTERS]
        if thin.empty:
            continue
        fewest = int(thin["clusters"].min())
        shown = ", ".join(dict.fromkeys(f"{r.condition} ({r.clusters})" for r in thin.itertuples()))
        notes.append(
            f"warning: {task} · {model}: {len(thin)} rows rest on fewer than {MIN_CLUSTERS} clusters ({shown}); "
            f"with {fewest} the smallest attainable chance-test p is {2.0 ** (1 - fewest):.3g}, so it cannot reach "
            "0.05, and the intervals rest on very few degrees of freedom: evaluate more facts (a larger --limit or "
            "more items per task)"
        )
    return notes


def render(
    summary: pd.DataFrame,
    frame: pd.DataFrame,
    notes: list[str] | None = None,
    kept: frozenset[tuple[str, str]] = frozenset(),
) -> Any:
    """Rich tables of the summary, one per task and model, how many samples called a model, and warnings.

    `kept`: (log, sample id) of samples already in the log folder (of a run this one resumed or reused).
    """
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    tables: list[Any] = []
    for (task, model), rows in summary.groupby(["task", "model"], sort=False):
        table = Table(title=f"{task} · {model}", title_justify="left", title_style="bold")
        chance = bool(rows["p_chance"].notna().any())
        epochs = bool((rows["epochs"] > 1).any())  # repeated measures of an item: shown, not counted as items
        columns = ("condition", "metric", "n", *(("epochs",) if epochs else ()), "score", "95% CI",
                   *(("p (= 0)",) if chance else ()), "method")  # fmt: skip
        for column in columns:
            table.add_column(column, justify="left" if column in ("condition", "metric", "method") else "right")
        for row in rows.itertuples():
            cells = [
                row.condition,
                row.metric,
                str(row.n),
                *((f"{row.epochs:g}",) if epochs else ()),
                f"{row.score:.3f}",
                f"[{row.ci_low:.3f}, {row.ci_high:.3f}]",
            ]
            if chance:
                cells.append("" if pd.isna(row.p_chance) else f"{row.p_chance:.3g}")
            table.add_row(*cells, row.interval)
        tables.append(table)
    per_sample = frame.drop_duplicates(["log", "sample_id"])
    was_kept = [(log, str(sid)) in kept for log, sid in zip(per_sample["log"], per_sample["sample_id"], strict=True)]
    ran = per_sample[[not k for k in was_kept]]
    calls = int((~ran["cached"].astype(bool)).sum())
    counts = f"{calls} called a model, {len(ran) - calls} came from the cache"
    if any(was_kept):
        counts = f"{sum(was_kept)} were already in the log folder; of the {len(ran)} run now, {counts}"
    tables.append(Text(f"{len(per_sample)} samples; {counts}."))
    for note in [*(notes or []), *few_cluster_notes(summary)]:
        tables.append(Text(note if note.startswith("warning: ") else f"warning: {note}", style="yellow"))
    return Group(*tables)
