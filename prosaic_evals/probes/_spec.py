"""Probe files and task references -> a `ProbeJob`.

A probe file (YAML) names a built-in question and the task whose parameters generate its
items, or a data file of the user's own texts and labels::

    question: reversal_curse.truth    # or  data: my_probe.jsonl
    task: reversal_curse               # the task file whose parameters are used
    parameters: {facts_per_subset: 20} # overrides of that task's parameters
    models: [local, variant/reversal-curse-smollm2-lora]
    layers: [0, 6, 12, 18, 24, 30]     # default: every layer
    positions: [end]                   # default: the question's own
    probes: [logistic, mass_mean]
    controls: [shuffled, control_task, random_init]
    folds: 5
    seed: 0

A task reference instead of a probe file (`prosaic-evals probe reversal_curse`) probes
that task's family question with the task's parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from prosaic_evals._errors import UserError
from prosaic_evals._paths import display_path
from prosaic_evals._strict import StrictModel
from prosaic_evals.probes._data import ProbeData, read_probe_file
from prosaic_evals.probes._questions import QUESTIONS, question_for_family
from prosaic_evals.probes._run import CONTROLS, ProbeJob


class ProbeSpec(StrictModel):
    question: str | None = None
    """A built-in probe question (what the probe should read from the activations); see `prosaic-evals probe --help`."""

    data: Path | None = None
    """Your own labelled texts (CSV/JSONL/Parquet), instead of a question."""

    task: str | None = None
    """The task whose items the question is asked of (default: the question's family's task)."""

    parameters: dict[str, Any] = Field(default_factory=dict)
    """That task's parameters (as `-T`)."""

    models: list[str] = Field(default_factory=lambda: ["local"])
    """Models whose activations are read: local weights (the embedded model, a directory, a variant)."""

    layers: list[int] | None = None
    """Layers probed (default: every layer)."""

    positions: list[str] | None = None
    """Token positions read: `last`, `end` or `entity:<field>` (default: the question's)."""

    probes: list[str] = Field(default_factory=lambda: ["logistic", "mass_mean"])
    """Probe kinds: `logistic` regression and/or the `mass_mean` direction."""

    controls: list[str] = Field(default_factory=lambda: list(CONTROLS))
    """Controls fitted beside each probe: `shuffled` labels, a `control_task` (for selectivity), a `random_init`
    model."""

    folds: int = Field(default=5, ge=2)
    """Cross-validation folds, split by cluster so that no entity is in both train and test."""

    seed: int = 0
    """Seed of the folds, controls and bootstrap."""

    bootstrap: int = Field(default=2000, ge=100)
    """Cluster-bootstrap replicates for the accuracy intervals."""

    batch_size: int = Field(default=16, ge=1)
    """Texts per forward pass when reading activations."""


def _probe_file(ref: str) -> dict[str, Any] | None:
    """The contents of `ref` if it is a probe file (a YAML file naming no family), else None."""
    from prosaic_evals.spec._load import read_yaml

    path = Path(ref).expanduser()
    if not (path.is_file() and path.suffix in (".yaml", ".yml")):
        return None
    raw = read_yaml(path)
    return None if "family" in raw else raw  # a task file names its family; a probe file does not


def load_job(ref: str, overrides: dict[str, Any], parameters: dict[str, Any] | None = None) -> ProbeJob:
    """A probe file or a task reference, with command-line overrides (None: not given) and task parameters."""
    from prosaic_evals.spec._load import validate

    given = {k: v for k, v in overrides.items() if v not in (None, [], ())}
    raw = _probe_file(ref)
    if raw is not None:
        path = Path(ref).expanduser()
        raw = {**raw, **given, "parameters": {**(raw.get("parameters") or {}), **(parameters or {})}}
        spec = validate(ProbeSpec, raw, source=path)
        name, base = path.stem, path.parent
    else:
        spec = ProbeSpec(task=ref, parameters=parameters or {}, **given)
        name, base = Path(ref).stem, Path.cwd()
    data, positions, provenance = _dataset(spec, base)
    return ProbeJob(
        name=name, data=data, models=spec.models, positions=spec.positions or positions, layers=spec.layers,
        probes=spec.probes, controls=spec.controls, folds=spec.folds, seed=spec.seed, replicates=spec.bootstrap,
        batch_size=spec.batch_size, provenance=provenance,
    )  # fmt: skip


def _dataset(spec: ProbeSpec, base: Path) -> tuple[ProbeData, list[str], dict[str, Any]]:
    if spec.data is not None:
        if spec.question or spec.task:
            raise UserError("a probe file gives either data (your own texts) or question/task, not both")
        if spec.positions is None:
            raise UserError(f"{spec.data}: give positions (last, end or entity:<field>) for your own data")
        path = spec.data if spec.data.is_absolute() else base / spec.data
        return read_probe_file(path), [], {"data_file": str(path)}
    from prosaic_evals.spec import load_task

    if spec.question is None and spec.task is None:
        raise UserError("a probe file needs a question (with a task) or a data file")
    if spec.question is not None and spec.question not in QUESTIONS:
        raise UserError(f"unknown probe question {spec.question!r} (built-in: {', '.join(QUESTIONS)})")
    task = load_task(spec.task or QUESTIONS[str(spec.question)].family, spec.parameters)
    question = spec.question or question_for_family(task.family.name)
    wanted = QUESTIONS[question]
    if wanted.family != task.family.name:
        raise UserError(f"question {question} needs a {wanted.family} task, {task.name} is {task.family.name}")
    data = wanted.build(task.params, task.name)
    provenance = {"question": question, "task": task.name, "task_file": display_path(task.path),
                  "task_parameters": task.params.model_dump(mode="json"),
                  "data_version": task.family.data_version_for(task.params)}  # fmt: skip
    return data, list(wanted.positions), provenance
