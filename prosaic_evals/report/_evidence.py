"""Logs -> the per-sample frame, what each log says about its run, and what the report must warn about.

Refused with one line: an unreadable or empty log, one task under different versions or
parameters, models that do not share their tasks (nothing to pair). A log of an
interrupted run is reported for what completed, marked partial; when models are
compared, only the items every model completed are kept, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from prosaic_evals._errors import UserError
from prosaic_evals._paths import display_path
from prosaic_evals.run import sample_frame
from prosaic_evals.run._results import current_logs, planned_samples, read_log

NOT_DECODING = {"max_retries", "timeout", "attempt_timeout", "stream_idle_timeout", "max_connections",
                "adaptive_connections", "batch", "cache"}  # fmt: skip
"""Generate-config fields about transport, not about what the model was asked to do."""


@dataclass(frozen=True)
class LogInfo:
    path: str
    task: str
    task_version: Any
    model: str
    status: str
    planned: int
    metadata: dict[str, Any]
    decoding: dict[str, Any]
    inspect_version: str


@dataclass
class Evidence:
    frame: pd.DataFrame
    logs: list[LogInfo]
    warnings: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(self.frame["model"]))

    @property
    def partial(self) -> bool:
        return any(log.status != "success" for log in self.logs)


def read_evidence(paths: list[Path]) -> Evidence:
    paths, superseded = current_logs(paths)
    infos = [_info(path) for path in paths]
    frames = []
    for info in infos:
        frame = sample_frame([info.path])
        if frame.empty:
            raise UserError(
                f"{info.path}: the log has no scored samples "
                f"(task {info.task}, model {info.model}, status {info.status})"
            )
        frames.append(frame.assign(log=display_path(info.path)))
    frame = pd.concat(frames, ignore_index=True)
    evidence = Evidence(frame, infos, warnings=list(superseded))
    _check_same_task_definition(infos, frame, evidence.warnings)
    _check_shared_tasks(infos)
    for info in infos:
        if info.status != "success":
            scored = frame[frame["log"] == display_path(info.path)]["sample_id"].nunique()
            evidence.warnings.append(
                f"Partial: {display_path(info.path)} ({info.task}, {info.model}) did not finish (status "
                f"{info.status}): {scored} of {info.planned} samples were scored, and only those are reported."
            )
    if evidence.partial and len(evidence.models) > 1:
        evidence.frame = _common_items(evidence)
    return evidence


def _info(path: Path) -> LogInfo:
    log = read_log(path, header_only=True)
    planned = planned_samples(log)
    config = log.plan.config.model_dump(exclude_none=True) if log.plan else {}
    decoding = {k: v for k, v in config.items() if k not in NOT_DECODING}
    return LogInfo(
        path=str(path),
        task=log.eval.task,
        task_version=log.eval.task_version,
        model=log.eval.model,
        status=log.status,
        planned=int(planned or 0),
        metadata=dict(log.eval.metadata or {}),
        decoding=decoding,
        inspect_version=(log.eval.packages or {}).get("inspect_ai", ""),
    )


def _check_same_task_definition(infos: list[LogInfo], frame: pd.DataFrame, warnings: list[str]) -> None:
    """Logs of one task are reported together only if they score the same items the same way.

    A different task version or scorer is refused. Different parameters or data are allowed when
    the evaluated items are still the same (a training-only parameter, as in an ablation), with a
    warning; when they change the items, refused. One model twice for one task is refused: its
    samples would be pooled.
    """
    first: dict[str, LogInfo] = {}
    seen: dict[tuple[str, str], LogInfo] = {}
    for info in infos:
        twice = seen.setdefault((info.task, info.model), info)
        if twice is not info:
            raise UserError(
                f"{info.model} answered task {info.task} in two logs ({display_path(twice.path)}, "
                f"{display_path(info.path)}); give one log per model and task"
            )
        other = first.setdefault(info.task, info)
        for key in ("task_version", "scorer", "data_version", "parameters"):
            mine = info.task_version if key == "task_version" else info.metadata.get(key)
            theirs = other.task_version if key == "task_version" else other.metadata.get(key)
            if mine == theirs:
                continue
            where = f"task {info.task}: {display_path(other.path)} and {display_path(info.path)} differ in {key}"
            what = _difference(theirs, mine)
            items = [set(frame[frame["log"] == display_path(i.path)]["sample_id"]) for i in (other, info)]
            if key in ("task_version", "scorer") or items[0] != items[1]:
                raise UserError(f"{where} ({what}) and score different items, so they cannot be reported together")
            warnings.append(f"{where} ({what}); the evaluated items are the same, and are paired by sample id.")


def _difference(a: Any, b: Any) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        return ", ".join(f"{k}: {a.get(k)} vs {b.get(k)}" for k in keys)
    return f"{a} vs {b}"


def _check_shared_tasks(infos: list[LogInfo]) -> None:
    """With several models, every task must be answered by every model: numbers are paired by task and item."""
    by_task: dict[str, set[str]] = {}
    for info in infos:
        by_task.setdefault(info.task, set()).add(info.model)
    models = {info.model for info in infos}
    for task, answered in by_task.items():
        if len(models) > 1 and answered != models:
            missing = ", ".join(sorted(models - answered))
            raise UserError(
                f"the logs mix tasks without a shared key: task {task} has no log from {missing}; "
                "give every model's log of each task, or report the models separately"
            )


def _common_items(evidence: Evidence) -> pd.DataFrame:
    """Keep, per task, the items every model completed (partial logs cover different items)."""
    frame, kept = evidence.frame, []
    n_models = frame["model"].nunique()
    for task, part in frame.groupby("task", sort=False):
        per_item = part.groupby("sample_id")["model"].nunique()
        common = per_item[per_item == n_models].index
        dropped = int(part["sample_id"].nunique() - len(common))
        if dropped:
            evidence.warnings.append(
                f"Partial: {task}: {dropped} items completed by some models only are left out; "
                f"the comparison uses the {len(common)} items every model completed."
            )
        kept.append(part[part["sample_id"].isin(common)])
    return pd.concat(kept, ignore_index=True)
