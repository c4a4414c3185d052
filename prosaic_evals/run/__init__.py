"""Running tasks: spec -> inspect Task -> eval -> per-sample frame -> summary."""

from prosaic_evals.run._build import build_task, eval_items, interleave, task_metadata
from prosaic_evals.run._results import render, sample_frame, summarize
from prosaic_evals.run._run import RunOptions, RunResult, run

__all__ = [
    "RunOptions",
    "RunResult",
    "build_task",
    "eval_items",
    "interleave",
    "render",
    "run",
    "sample_frame",
    "summarize",
    "task_metadata",
]
