"""`finetune(spec)`: reuse the variant an identical recipe made, or train and register a new one."""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prosaic_evals._errors import Interrupted, UserError
from prosaic_evals._paths import display_path
from prosaic_evals.finetune._data import data_hash, load_records, write_jsonl
from prosaic_evals.finetune._registry import Registry, Variant
from prosaic_evals.finetune._spec import FineTuneSpec

Progress = Callable[[str], None]


def load_finetune_spec(path: Path) -> FineTuneSpec:
    from prosaic_evals.spec._load import read_yaml, validate

    spec: FineTuneSpec = validate(FineTuneSpec, read_yaml(path), source=path)
    return spec


def finetune(
    spec: FineTuneSpec,
    *,
    relative_to: Path | None = None,
    registry: Registry | None = None,
    progress: Progress | None = None,
    poll: tuple[float, float] = (5.0, 60.0),
) -> Variant:
    """The variant `spec` describes: the registered one if the recipe and data are identical,
    else a newly trained one. Data is validated before anything is trained or uploaded."""
    say = progress or _stderr
    registry = registry or Registry()
    records, source = load_records(spec.data, relative_to=relative_to, form=spec.format)
    digest = data_hash(records)
    base_path, base_identity = _base(spec)
    identity = spec.identity(digest, base_identity)

    if spec.backend == "openai":
        return _reuse_or_train(spec, records, source, digest, None, base_identity, identity, registry, say, poll)
    with registry.training(identity, say):  # one process trains a recipe; the others wait, then reuse
        return _reuse_or_train(spec, records, source, digest, base_path, base_identity, identity, registry, say, poll)


def _reuse_or_train(
    spec: FineTuneSpec, records: list[dict[str, Any]], source: str, digest: str, base_path: str | None,
    base_identity: str, identity: str, registry: Registry, say: Progress, poll: tuple[float, float],
) -> Variant:  # fmt: skip
    existing = _reusable(registry, identity, say)
    if existing is not None:
        return existing
    entry = _entry(spec, registry, identity, digest, source, base_identity)
    say(f"Fine-tuning {spec.base} -> {spec.name} ({spec.backend}, {spec.method}): {len(records)} records, {source}")
    if base_path is not None:
        return _train_local(spec, records, entry, base_path, registry, say)
    pending = registry.by_identity(identity)
    resume = pending if pending is not None and pending.status == "pending" else None
    return _train_openai(spec, records, entry, resume, registry, say, poll)


def _reusable(registry: Registry, identity: str, say: Progress) -> Variant | None:
    existing = registry.by_identity(identity)
    if existing is not None and existing.status == "ready" and _files_present(existing):
        say(f"Variant {existing.name} already exists for this recipe and data (identity {identity}); reusing it")
        return existing
    return None


def _entry(
    spec: FineTuneSpec, registry: Registry, identity: str, digest: str, source: str, base_identity: str
) -> Variant:
    named = next((v for v in registry.variants() if v.name == spec.name), None)
    if named is not None and named.identity != identity and named.status != "failed":
        raise UserError(
            f"variant {spec.name!r} already exists with a different recipe or data (identity {named.identity}); "
            f"choose another name or remove it with `prosaic-evals models remove {spec.name}`"
        )
    return Variant(
        name=spec.name, status="pending", base=spec.base, base_identity=base_identity, backend=spec.backend,
        method=spec.method, identity=identity, data_hash=digest, data_source=source, seed=spec.seed,
        spec=spec.model_dump(mode="json"),
    )  # fmt: skip


def _base(spec: FineTuneSpec) -> tuple[str | None, str]:
    """(local path or hub id, identity) of the base model."""
    if spec.backend == "openai":
        return None, f"openai:{spec.base}"
    from prosaic_evals.models._identity import model_identity
    from prosaic_evals.models._provider import local_target

    path, _ = local_target(spec.base)
    hub_id = re.fullmatch(r"[\w.-]+/[\w.-]+", spec.base) and not spec.base.startswith(".")
    if not Path(path).is_dir() and not hub_id:
        raise UserError(f"base: {spec.base!r} is not `local`, a model directory or a hub id (org/name)")
    return path, model_identity(path)


def _files_present(variant: Variant) -> bool:
    try:
        variant.usable()
        return True
    except UserError:
        return False


def _train_local(
    spec: FineTuneSpec, records: list[dict[str, Any]], entry: Variant, base_path: str, registry: Registry, say: Progress
) -> Variant:
    from prosaic_evals.finetune import _local

    work = registry.work_dir(entry.identity)
    work.mkdir(parents=True, exist_ok=True)
    try:
        final, metrics = _local.train(spec, records, base_path=base_path, work=work, progress=say)
    except KeyboardInterrupt:
        raise Interrupted(
            "training interrupted; run the same command again to resume from the last checkpoint "
            f"in {display_path(work)}"
        ) from None
    write_jsonl(records, final / "train.jsonl")
    variant = entry.model_copy(update={"status": "ready", "metrics": metrics})
    target = registry.variant_dir(spec.name)
    variant = variant.model_copy(update={"path": str(target)})
    (final / "variant.json").write_text(json.dumps(variant.model_dump(mode="json"), indent=2) + "\n")
    if target.exists():  # a stale folder: a variant whose entry was removed, or a failed attempt
        shutil.rmtree(target)
    final.rename(target)  # the variant appears whole or not at all
    registry.put(variant)
    shutil.rmtree(work, ignore_errors=True)
    loss, seconds = metrics["final_loss"], metrics["runtime_s"]
    say(f"Variant {spec.name} ready: {display_path(target)} (final loss {loss:.3f}, {seconds:.0f} s)")
    return variant


def _train_openai(
    spec: FineTuneSpec,
    records: list[dict[str, Any]],
    entry: Variant,
    resume: Variant | None,
    registry: Registry,
    say: Progress,
    poll: tuple[float, float],
) -> Variant:
    from prosaic_evals.finetune import _openai

    if resume is not None:
        say(f"Resuming the recorded OpenAI job {resume.job_id}")
        pending = resume
    else:
        job_id, file_id = _openai.start_job(spec, records)
        pending = entry.model_copy(update={"job_id": job_id, "metrics": {"training_file": file_id}})
        registry.put(pending)  # recorded before waiting: a restart resumes this job
    job = _openai.wait_for_job(str(pending.job_id), say, first_wait=poll[0], max_wait=poll[1])
    if job.status != "succeeded":
        reason = job.error.message if job.error and job.error.message else job.status
        registry.put(pending.model_copy(update={"status": "failed", "error": reason}))
        raise UserError(f"OpenAI job {job.id} {job.status}: {reason}; fix the data or hyperparameters and run again")
    metrics = {**pending.metrics, "trained_tokens": job.trained_tokens, "finished_at": job.finished_at}
    variant = pending.model_copy(update={"status": "ready", "remote_id": job.fine_tuned_model, "metrics": metrics})
    registry.put(variant)
    say(f"Variant {spec.name} ready: {job.fine_tuned_model}")
    return variant


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
