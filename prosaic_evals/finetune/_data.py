"""Training data: records from a task's training split or a JSONL file, validated first.

A record is a conversation, `{"messages": [{"role": "system"|"user"|"assistant", "content": "..."},
...], "metadata": {...}}` with at least one assistant turn, or a prompt-completion pair (TRL's
format), `{"prompt": "...", "completion": "...", "metadata": {...}}`, trained on the completion
only. A `format: chat` fine-tune trains a pair as one user turn and one assistant turn; a
`format: completion` fine-tune trains on raw text and takes pairs only. Bad data is refused,
naming the file and line, before anything is trained or uploaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prosaic_evals._errors import UserError
from prosaic_evals._files import read_jsonl_file
from prosaic_evals._paths import display_path
from prosaic_evals.finetune._spec import DataSpec

ROLES = ("system", "user", "assistant")


def load_records(
    spec: DataSpec, *, relative_to: Path | None = None, form: str = "chat"
) -> tuple[list[dict[str, Any]], str]:
    """(validated records in `form`, chat or completion; a description of where they came from)."""
    records, source = _load(spec, relative_to)
    return [_in_form(r, form, source, number) for number, r in enumerate(records, start=1)], source


def _in_form(record: dict[str, Any], form: str, source: str, number: int) -> dict[str, Any]:
    if "messages" in record:
        if form == "completion":
            raise UserError(f"{source}, record {number}: format: completion trains on prompt/completion records, "
                            "not messages")  # fmt: skip
        return record
    if form == "completion":
        return record
    turns = [{"role": "user", "content": record["prompt"]}, {"role": "assistant", "content": record["completion"]}]
    return {"messages": turns, **({"metadata": record["metadata"]} if "metadata" in record else {})}


def _load(spec: DataSpec, relative_to: Path | None) -> tuple[list[dict[str, Any]], str]:
    if spec.jsonl is not None:
        path = spec.jsonl if spec.jsonl.is_absolute() or relative_to is None else relative_to / spec.jsonl
        return read_jsonl(path), display_path(path)
    from prosaic_evals.spec import load_task

    assert spec.task is not None
    task = load_task(spec.task, spec.task_args, overrides_base=relative_to)
    source = f"the training split of task {task.name}"
    records = task.family.train_records(task.params)
    if not records:
        raise UserError(f"data.task: task {task.name} (family {task.family.name}) has no training split")
    return validate_records(enumerate(records, start=1), source=source, unit="record"), source


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise UserError(f"data.jsonl: file not found: {display_path(path)}")
    return validate_records(read_jsonl_file(path), source=display_path(path), unit="line")


def validate_records(numbered: Iterable[tuple[int, Any]], *, source: str, unit: str) -> list[dict[str, Any]]:
    records = []
    for number, record in numbered:
        problem = record_problem(record)
        if problem:
            where = f"{source}:{number}" if unit == "line" else f"{source}, record {number}"
            raise UserError(f"{where}: {problem}")
        records.append(record)
    if not records:
        raise UserError(f"{source}: no training records")
    return records


def record_problem(record: Any) -> str | None:
    """What is wrong with one record, or None."""
    if not isinstance(record, dict):
        return f"expected an object with 'messages', or 'prompt' and 'completion', got {type(record).__name__}"
    if "messages" not in record and ("prompt" in record or "completion" in record):
        return _pair_problem(record)
    unknown = sorted(set(record) - {"messages", "metadata"})
    if unknown:
        return f"unknown key {unknown[0]!r} (allowed: messages, metadata; or prompt, completion, metadata)"
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            return f"messages[{i}] must have exactly 'role' and 'content'"
        if message["role"] not in ROLES:
            return f"messages[{i}].role {message['role']!r} is not one of {', '.join(ROLES)}"
        if not isinstance(message["content"], str) or not message["content"].strip():
            return f"messages[{i}].content must be non-empty text"
    if not any(m["role"] == "assistant" for m in messages):
        return "no assistant message: there is nothing to train on"
    if not isinstance(record.get("metadata", {}), dict):
        return "'metadata' must be an object"
    return None


def _pair_problem(record: dict[str, Any]) -> str | None:
    unknown = sorted(set(record) - {"prompt", "completion", "metadata"})
    if unknown:
        return f"unknown key {unknown[0]!r} (allowed: prompt, completion, metadata)"
    for key in ("prompt", "completion"):
        if not isinstance(record.get(key), str) or not record[key].strip():
            return f"'{key}' must be non-empty text"
    if not isinstance(record.get("metadata", {}), dict):
        return "'metadata' must be an object"
    return None


def canonical_lines(records: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records)


def data_hash(records: Iterable[dict[str, Any]]) -> str:
    """sha256 of the records as canonical JSON lines: the data part of a variant's identity."""
    return hashlib.sha256(canonical_lines(records).encode()).hexdigest()[:16]


def write_jsonl(records: Iterable[dict[str, Any]], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(canonical_lines(records), encoding="utf-8")
    tmp.replace(path)
