"""A study matrix, run as jobs: a fine-tune per cell, then one evaluation per base with all its variants.

Grouping the evaluations by base lets a base and all its LoRA variants share one managed vLLM
server (adapters are loaded into the base's server), and evaluates the base once, not once per
cell. Everything that lasts is on disk, written whole or not at all:

    results/
      study.json          the matrix: spec, executor, every cell's variant, timings, versions
      cells/<key>/        per cell: cell.json (its state), cell.log, comparison tables, study.json
      logs/               every evaluation's inspect log, shared by the cells (reused by run key)
      pooled.csv          per base and recipe, the cells' differences pooled over seeds

A cell goes to do -> fine-tuning -> trained -> evaluating -> done, or failed (with the stage and
the first line of the error). A re-run skips done cells, reuses trained variants (the registry)
and finished evaluation logs (the run key), so a sweep killed at any point finishes only what
is missing, and gives the same numbers.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from prosaic_evals._errors import UserError
from prosaic_evals._paths import display_path
from prosaic_evals.study._executor import Failed, Job, RayOptions, executor
from prosaic_evals.study._matrix import Cell, pool_seeds

if TYPE_CHECKING:
    from prosaic_evals.finetune import FineTuneSpec
    from prosaic_evals.run import Comparison
    from prosaic_evals.study._study import StudySpec

DONE, TRAINED, FAILED = "done", "trained", "failed"


def run_matrix(spec: StudySpec, path: Path, every: list[Cell], kind: str, ray: RayOptions, output: Path,
               spend: dict[str, Any] | None = None) -> tuple[Comparison, Path]:  # fmt: skip
    """Run the cells not yet done on the `kind` executor; pool over seeds; the first cell's comparison."""
    from prosaic_evals.study._study import versions

    began = time.monotonic()
    _check_bases(every)
    board = Board(output, every)
    board.say(f"Study {spec.name}: {len(every)} cells on the {kind} executor; {board.summary()}")
    timings: dict[str, float] = {}
    with executor(kind, ray, board.say) as runner:
        tuned = time.monotonic()
        train = [c for c in every if board.state(c) not in (DONE, TRAINED)]
        jobs = [Job(c.key, train_job, (c.finetune, str(path.parent.resolve()), str(board.log(c))), ray.finetune)
                for c in train]  # fmt: skip
        for job, outcome in runner.map(jobs, lambda job: board.set(job.name, "fine-tuning")):
            if isinstance(outcome, Failed):
                board.set(job.name, FAILED, stage="fine-tune", error=outcome.message)
            else:
                board.set(job.name, TRAINED, variant=outcome)
        timings["finetune"] = time.monotonic() - tuned
        evaluated = time.monotonic()
        groups: dict[str, list[Cell]] = {}  # one evaluation per base (and data seed): one server for its variants
        for cell in every:
            if board.state(cell) == TRAINED:
                name = cell.base + (f" (data seed {cell.data_seed})" if cell.data_seed is not None else "")
                groups.setdefault(name, []).append(cell)
        jobs = [Job(name, evaluate_job, _evaluate_args(spec, path, cells, board, runner.name, spend or {}),
                    ray.evaluate) for name, cells in groups.items()]  # fmt: skip
        for job, outcome in runner.map(jobs, lambda job: _each(groups[job.name], board, "evaluating")):
            for cell in groups[job.name]:
                if isinstance(outcome, Failed):
                    board.set(cell.key, FAILED, stage="evaluate", error=outcome.message)
                    continue
                try:
                    _write_cell(spec, path, cell, board, *outcome)
                except UserError as e:
                    board.set(cell.key, FAILED, stage="compare", error=str(e))
                    continue
                board.set(cell.key, DONE, variant=board.get(cell.key).get("variant", ""))
        timings["evaluate"] = time.monotonic() - evaluated
    done = {c: read_comparison(board.folder(c)) for c in every if board.state(c) == DONE}
    if not done:
        raise UserError(f"study {spec.name}: no cell finished; see {display_path(output / 'cells')}/*/cell.json")
    pooled = pool_seeds(done, dict(spec.margins), spec.correction)
    _write(output / "pooled.csv", pooled.to_csv(index=False))
    if spec.contrasts:
        _write(output / "contrasts.csv", contrast_recipes(spec, list(done), board).to_csv(index=False))
    timings["total"] = time.monotonic() - began
    _write(output / "study.json", json.dumps({
        "study": spec.name, "study_file": display_path(path), "spec": spec.model_dump(mode="json"),
        "executor": kind, "cells": [{"key": c.key, "base": c.base, "seed": c.seed, "recipe": c.recipe,
                                     "data_seed": c.data_seed,
                                     **board.get(c.key)} for c in every],
        "timings_s": {k: round(v, 1) for k, v in timings.items()}, "versions": versions(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }, indent=2, default=str) + "\n")  # fmt: skip
    board.say(f"Study {spec.name}: {board.summary()}")
    return next(iter(done.values())), output


def contrast_recipes(spec: StudySpec, done: list[Cell], board: Board) -> pd.DataFrame:
    """The study's `contrasts`: per pair of recipes, base, seed and data seed, the second recipe's variant against
    the first's, paired on the identical items both answered (`contrasts/<first>-vs-<second>-<base...>/`)."""
    from prosaic_evals.run import compare_frame, write_outputs
    from prosaic_evals.run._compare import corrected

    by_key = {(c.recipe, c.base, c.seed, c.data_seed): c for c in done}
    tables = []
    for first, second in spec.contrasts:
        for (recipe, base, seed, data_seed), cell in by_key.items():
            other = by_key.get((second, base, seed, data_seed))
            if recipe != first or other is None:
                continue  # a cell that failed has nothing to contrast; its failure is on the board
            frames = [_samples(board.folder(c)) for c in (cell, other)]
            models = [_variant_model(board.folder(c)) for c in (cell, other)]
            frame = pd.concat([f[f["model"] == m] for f, m in zip(frames, models, strict=True)], ignore_index=True)
            name = f"{first}-vs-{second}-{other.key.removeprefix(second + '-')}"
            try:
                comparison = compare_frame(frame, baseline=models[0], correction=spec.correction, margins=spec.margins)
            except UserError as e:
                raise UserError(f"contrast {name}: {e}") from None
            write_outputs(comparison, board.output / "contrasts" / name, extra={"study": spec.name, "contrast": name})
            tables.append(comparison.comparisons.assign(contrast=name, first=first, second=second, base_model=base,
                                                        seed=seed, data_seed=data_seed))  # fmt: skip
    if not tables:
        return pd.DataFrame()
    return corrected(pd.concat(tables, ignore_index=True), spec.correction)  # one family: every contrast's rows


def _samples(folder: Path) -> pd.DataFrame:
    """A finished cell's per-sample frame, with each condition's rank as the cell's comparison table orders them."""
    frame = pd.read_csv(folder / "samples.csv")
    order = pd.read_csv(folder / "comparison.csv")[["task", "condition"]].drop_duplicates()
    ranks = {(t, c): i for i, (t, c) in enumerate(order.itertuples(index=False))}
    keys = zip(frame["task"], frame["condition"], strict=True)
    return frame.assign(condition_rank=[ranks.get(k, len(ranks)) for k in keys])


def _variant_model(folder: Path) -> str:
    """A cell's variant, as its samples name it (the cell's models are its base, then its variant)."""
    return str(json.loads((folder / "study.json").read_text())["models"][1])


def train_job(spec: FineTuneSpec, relative_to: str, log: str) -> str:
    """One cell's fine-tune (or the registered variant of an identical recipe): the variant's name."""
    from prosaic_evals.finetune import finetune

    with open(log, "a") as out:
        variant = finetune(spec, relative_to=Path(relative_to), progress=lambda message: _line(out, message))
    return variant.name


def evaluate_job(tasks: list[str], models: list[str], options: dict[str, Any],
                 logs: list[str]) -> tuple[list[str], pd.DataFrame, dict[str, Any]]:  # fmt: skip
    """A base and its variants on every task, on one vLLM server: (inspect model names, sample frame, where and
    how long it ran)."""
    from prosaic_evals.models._vllm_server import POOL, VLLMServer
    from prosaic_evals.run import RunOptions, run

    began, starting = time.monotonic(), VLLMServer.started_s
    running = {server.spec for server in POOL.servers()}
    outs = [open(log, "a") for log in logs]  # noqa: SIM115 (closed below)
    try:
        result = run(tasks, RunOptions(models=models, **options), say=lambda message: _lines(outs, message))
    finally:
        for server in POOL.servers():  # the next base needs the memory; a Ray worker outlives its task
            if server.spec not in running:
                POOL.stop(server.spec)
        for out in outs:
            out.close()
    ran = {"host": platform.node(), "pid": os.getpid(), "seconds": round(time.monotonic() - began, 1),
           "server_start_s": round(VLLMServer.started_s - starting, 1)}  # fmt: skip
    return result.models, result.frame, ran


def answer(assume_yes: bool, estimate: str) -> bool:
    """A study's jobs cannot ask: a priced API model runs only with --yes."""
    if not assume_yes:
        raise UserError("a priced API model is about to be called: pass --yes to go ahead (estimate in cell.log)")
    return True


class Board:
    """The cells' states on disk (`cells/<key>/cell.json`), and a progress line on each change."""

    def __init__(self, output: Path, every: list[Cell]) -> None:
        self.output, self.cells = output, {c.key: c for c in every}

    def folder(self, cell: Cell | str) -> Path:
        return self.output / "cells" / (cell if isinstance(cell, str) else cell.key)

    def log(self, cell: Cell) -> Path:
        self.folder(cell).mkdir(parents=True, exist_ok=True)
        return self.folder(cell) / "cell.log"

    def get(self, key: str) -> dict[str, str]:
        return read_state(self.folder(key))

    def state(self, cell: Cell) -> str:
        return self.get(cell.key).get("state", "to do")

    def set(self, key: str, state: str, **details: str) -> None:
        kept = {"variant": self.get(key)["variant"]} if "variant" in self.get(key) and "variant" not in details else {}
        self.folder(key).mkdir(parents=True, exist_ok=True)
        _write(self.folder(key) / "cell.json", json.dumps({"state": state, "cell": key, **kept, **details}) + "\n")
        why = f": {details['error']}" if "error" in details else ""
        self.say(f"[{self.summary()}] {key}: {state}{why}")

    def summary(self) -> str:
        states = [self.get(k).get("state", "to do") for k in self.cells]
        running = sum(s in ("fine-tuning", "evaluating") for s in states)
        return f"{states.count(DONE)} done, {running} running, {states.count(FAILED)} failed, {len(states)} cells"

    def say(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)


def read_state(folder: Path) -> dict[str, str]:
    path = folder / "cell.json"
    return dict(json.loads(path.read_text())) if path.is_file() else {}


def read_comparison(folder: Path) -> Comparison:
    from prosaic_evals.run import Comparison

    saved = json.loads((folder / "comparison.json").read_text())
    return Comparison(saved["baseline"], saved["correction"], pd.read_csv(folder / "scores.csv"),
                      pd.read_csv(folder / "comparison.csv"), pd.read_csv(folder / "samples.csv"))  # fmt: skip


def _each(cells: list[Cell], board: Board, state: str) -> None:
    for cell in cells:
        board.set(cell.key, state)


def _evaluate_args(spec: StudySpec, path: Path, cells: list[Cell], board: Board, kind: str,
                   spend: dict[str, Any]) -> tuple[Any, ...]:  # fmt: skip
    models = [cells[0].model, *(f"variant/{board.get(c.key)['variant']}" for c in cells)]
    options = {"model_args": spec.server, "model_roles": dict(spec.model_roles),
               "task_args": cells[0].task_args(spec.task_args),
               "task_args_base": path.parent.resolve(),
               "limit": spec.limit, "log_dir": str((board.output / "logs").resolve()),
               "batch": spend.get("batch", False), "prices": spend.get("prices"),
               "confirm": partial(answer, bool(spend.get("assume_yes"))),  # no terminal in a job: --yes or stop
               **({"display": "none"} if kind == "ray" else {})}  # fmt: skip
    return spec.tasks, models, options, [str(board.log(c)) for c in cells]


def _write_cell(spec: StudySpec, path: Path, cell: Cell, board: Board, models: list[str], frame: pd.DataFrame,
                ran: dict[str, Any]) -> None:  # fmt: skip
    """One cell's paired comparison (its variant against the base) from its group's evaluation."""
    from prosaic_evals.finetune import Registry
    from prosaic_evals.run import compare_frame, write_outputs

    variant_name = board.get(cell.key)["variant"]
    model = next(m for m in models if m.endswith(f"variant/{variant_name}"))
    mine = frame[frame["model"].isin([models[0], model])]
    mine = mine.assign(log=mine["log"].map(display_path))
    comparison = compare_frame(mine, baseline=models[0], correction=spec.correction, margins=spec.margins)
    folder = board.folder(cell)
    write_outputs(comparison, folder, extra={"study": spec.name, "cell": cell.key})
    _write(folder / "study.json", json.dumps({
        "study": spec.name, "study_file": display_path(path), "spec": spec.model_dump(mode="json"),
        "cell": {"key": cell.key, "base": cell.base, "seed": cell.seed, "recipe": cell.recipe,
                 "data_seed": cell.data_seed},
        "variant": Registry().get(variant_name).model_dump(mode="json"), "models": [models[0], model],
        "logs": sorted(set(mine["log"])), "evaluated": {**ran, "with": models},
    }, indent=2, default=str) + "\n")  # fmt: skip


def _check_bases(every: list[Cell]) -> None:
    """Every base must be one the harness can load (or an API model's name), before anything trains."""
    from prosaic_evals.finetune._finetune import _base

    for cell in {c.base: c for c in every}.values():
        try:
            _base(cell.finetune)
        except UserError as e:
            raise UserError(f"bases: {e}".replace("base: ", "", 1)) from None


def _lines(outs: list[Any], message: str) -> None:
    for out in outs:
        _line(out, message)


def _line(out: Any, message: str) -> None:
    out.write(f"{time.strftime('%H:%M:%S')} {message}\n")
    out.flush()


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # whole or not at all: a kill leaves the previous version
