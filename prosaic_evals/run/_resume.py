"""Resume: a run interrupted by any path (Ctrl-C, SIGTERM, SIGKILL, a dead server) finishes only what is missing.

Every log records a run key: the registered task and its arguments, the task
file's validated content, the model and its identity, and the sample limit.
A new run of the same key finds the interrupted log in the log folder and hands
it to inspect's `eval_retry`, which keeps the samples already scored (recovering
a killed process's buffered samples first) and runs the rest. Once the retry has
succeeded, the superseded log is removed, as inspect's eval sets do: its samples
live on in the new one. A finished log of the same key is reused as it is:
nothing is missing, so nothing runs.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FINISHED = "success"


def run_key(*, registry_name: str, task_args: dict[str, Any], spec_hash: str, model: str, identity: str,
            limit: int | None, version: str) -> str:  # fmt: skip
    """What makes two runs the same run (decoding settings are part of the spec; `version`: the harness's)."""
    args = {k: v for k, v in task_args.items() if k != "cache"}  # the cache changes no result
    parts = [registry_name, args, spec_hash, model, identity, limit, version]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def key_of_log(log: Any) -> str | None:
    """The run key of a log header, None for logs this harness did not write."""
    meta = log.eval.metadata or {}
    spec_hash = meta.get("spec_hash")
    name = log.eval.task_registry_name
    if not spec_hash or not name:
        return None
    identity = (meta.get("models") or {}).get(log.eval.model, {}).get("identity", log.eval.model)
    return run_key(
        registry_name=name, task_args=log.eval.task_args_passed or {}, spec_hash=spec_hash,
        model=log.eval.model, identity=identity, limit=_limit(log.eval.config.limit),
        version=str(meta.get("prosaic_evals_version")),
    )  # fmt: skip


def _limit(value: Any) -> int | None:
    return value if isinstance(value, int) else None


@dataclass(frozen=True)
class Unfinished:
    """A log of an earlier run of the same key: to resume, or (status success) to reuse as it is."""

    path: Path
    status: str
    sample_ids: frozenset[str]
    """Samples the log holds (a killed run's buffered samples are recovered on top of these)."""


def find_latest(log_dir: Path, task: str, key: str) -> Unfinished | None:
    """The newest log of `key` in `log_dir` (finished or not), if any."""
    from inspect_ai.log import read_eval_log

    newest: tuple[str, Path, Any] | None = None
    named = {task, task.replace("_", "-")}  # inspect names logs {time}_{task}_{id}.eval, _ as -
    for path in (p for p in log_dir.glob("*.eval") if any(f"_{n}_" in p.name for n in named)):
        try:
            header = read_eval_log(str(path), header_only=True)
        except Exception:
            continue
        if key_of_log(header) != key:
            continue
        if newest is None or header.eval.created > newest[0]:
            newest = (header.eval.created, path, header)
    if newest is None:
        return None
    return Unfinished(newest[1], newest[2].status, _samples_in(newest[1]))


def samples_written(log_dir: Path) -> int:
    """Samples written so far to the .eval logs of a folder (a run in progress included)."""
    return sum(len(_samples_in(path)) for path in Path(log_dir).glob("*.eval"))


def _samples_in(path: Path) -> frozenset[str]:
    """Ids of the samples written to an .eval file so far (its members `samples/{id}_epoch_{n}.json`)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.startswith("samples/") and "_epoch_" in n]
    except (OSError, zipfile.BadZipFile):
        return frozenset()
    return frozenset(n.removeprefix("samples/").rsplit("_epoch_", 1)[0] for n in names)
