"""Running tasks: spec -> inspect Task -> eval -> per-sample frame -> summary."""

from prosaic_evals.run._build import build_task, eval_items, interleave, task_metadata
from prosaic_evals.run._compare import Comparison, compare_frame, render_comparison, write_outputs
from prosaic_evals.run._export import export_records, write_records
from prosaic_evals.run._results import render, sample_frame, summarize
from prosaic_evals.run._run import RunOptions, RunResult, run

__all__ = [
    "Comparison",
    "RunOptions",
    "RunResult",
    "build_task",
    "compare_frame",
    "eval_items",
    "export_records",
    "interleave",
    "render",
    "render_comparison",
    "run",
    "sample_frame",
    "summarize",
    "task_metadata",
    "write_outputs",
    "write_records",
]
