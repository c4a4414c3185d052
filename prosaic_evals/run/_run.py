"""`prosaic-evals run`: validate everything, start what is needed, evaluate, summarise."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from prosaic_evals._errors import Interrupted, UserError
from prosaic_evals.models import model_record, resolve_model
from prosaic_evals.run._build import build_task
from prosaic_evals.run._results import sample_frame, summarize
from prosaic_evals.spec import LikelihoodSpec, LoadedTask, load_task

MAX_SAMPLES = 128
"""Samples in flight per task: enough for vLLM to batch and for likelihood batching."""


@dataclass(frozen=True)
class RunOptions:
    models: Sequence[str | None] = ("local",)
    base_url: str | None = None
    model_args: dict[str, Any] = field(default_factory=dict)
    task_args: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    log_dir: str = "logs"
    cache: bool = True
    max_connections: int | None = None
    display: str | None = None
    model_roles: dict[str, str] = field(default_factory=dict)
    """Other models a task uses, by role (e.g. `judge`, `rewriter`): role -> model string."""


@dataclass(frozen=True)
class RunResult:
    models: list[str]
    """inspect names of the models, in the order given."""

    logs: list[str]
    frame: pd.DataFrame
    summary: pd.DataFrame


def run(task_refs: Sequence[str], options: RunOptions) -> RunResult:
    from inspect_ai import eval as inspect_eval

    # Everything that can be wrong with the input fails here, before any log exists.
    loaded = [load_task(ref, options.task_args) for ref in task_refs]
    tasks = [build_task(task, cache=options.cache) for task in loaded]
    _check_roles(loaded, options.model_roles)
    models = [resolve_model(m, base_url=options.base_url, model_args=options.model_args) for m in options.models]
    roles = {role: resolve_model(ref) for role, ref in options.model_roles.items()}
    _check_likelihood_support(loaded, models)

    logs = inspect_eval(
        tasks,
        model=models,
        log_dir=options.log_dir,
        limit=options.limit,
        max_connections=options.max_connections,
        max_samples=MAX_SAMPLES,
        display=options.display,  # type: ignore[arg-type]
        model_roles=roles or None,
        # every log names the identities of the models run with it (reports cite them)
        metadata={"models": {str(m): model_record(m) for m in [*models, *roles.values()]}},
    )
    interrupted = len(logs) < len(tasks) * len(models) or any(log.status == "cancelled" for log in logs)
    if interrupted:
        raise Interrupted(f"interrupted; logs of what completed are in {options.log_dir} (status cancelled)")
    failed = [log for log in logs if log.status != "success"]
    if failed:
        log = failed[0]
        reason = error_summary(log.error.message) if log.error else log.status
        raise UserError(
            f"{log.eval.task} on {log.eval.model} ended with status {log.status}: {reason} (log: {log.location})"
        )
    paths = [str(log.location) for log in logs]
    frame = sample_frame(paths)
    return RunResult([str(m) for m in models], paths, frame, summarize(frame))


def _check_roles(tasks: list[LoadedTask], given: dict[str, str]) -> None:
    """Every role a task needs is given; every role given is one some task can use."""
    usable: set[str] = set()
    for task in tasks:
        usable |= set(task.family.roles(task.family.conditions))
        for role, why in task.family.roles(task.conditions).items():
            if role not in given:
                raise UserError(f"{Path(task.path).name}: {why}: add --model-role {role}=MODEL (any model, e.g. local)")
    for role in given:
        if role not in usable:
            known = ", ".join(sorted(usable)) or "none"
            raise UserError(f"--model-role {role}: no task here uses a {role!r} model (roles they use: {known})")


def _check_likelihood_support(tasks: list[LoadedTask], models: list[Any]) -> None:
    from prosaic_evals.likelihood import unsupported_reason

    for task in tasks:
        if isinstance(task.spec.scorer, LikelihoodSpec):
            for model in models:
                reason = unsupported_reason(model.api)
                if reason:
                    raise UserError(f"{Path(task.path).name}: {reason}")


def error_summary(message: str, width: int = 300) -> str:
    """One line from an inspect error: the provider's own message where there is one."""
    text = " ".join(re.sub(r"[\\'\"]", "", message.replace("\\n", " ")).split())
    found = re.findall(r"message: ([^}]+)", text)
    text = (found[-1] if found else text).strip()
    return text if len(text) <= width else text[: width - 3] + "..."
