"""A family whose items come from the user's own file: no Python, no rewriting of the file.

The task file maps the file's columns onto the item schema (like inspect's `FieldSpec`):

    family: from_file
    parameters:
      items: my_items.jsonl          # JSONL, CSV, Parquet or a datasets folder
      fields: {prompt: question, target: answers, condition: kind}
      train: my_train.jsonl          # optional training split: messages, or prompt/completion
    scorer: {name: likelihood, distractors: all}

A field left at its default is optional where the schema allows (no `condition` column: one
condition, `all`); a field the task file names must exist in every row.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import field_validator

from prosaic_evals._errors import UserError
from prosaic_evals._paths import display_path
from prosaic_evals._strict import StrictModel
from prosaic_evals.families._base import Family, Item, content_id, unset
from prosaic_evals.families.from_file._read import file_kind, read_rows

ROLES = ("system", "user", "assistant")
ALL = "all"
"""The one condition of a file without a condition column."""


class ItemFields(StrictModel):
    """Column names in the items file, one per schema field. An optional field left unset reads its default
    column when the file has it; a field the task file names must be in every row."""

    id: str | None = None
    """The item's id (default column `id`); without it, an id derived from condition, prompt and targets."""

    prompt: str = "prompt"
    """Text (the user message), or chat messages: a list of `{role, content}`."""

    target: str = "target"
    """The answer: text, or a list of texts (the first is scored, all are accepted)."""

    accepted: str | None = None
    """Other answers that also count as correct, a list (default column `accepted`)."""

    condition: str | None = None
    """The item's condition (default column `condition`; without it, one condition `all`)."""

    cluster: str | None = None
    """Items sharing a cluster are correlated (default column `cluster`; without it, the item itself)."""

    distractors: str | None = None
    """Wrong candidates for the likelihood scorer (default column `distractors`; else other items' targets)."""

    metadata: str | None = None
    """An object of extra values kept with the item (default column `metadata`)."""

    grader: str | None = unset()  # added later: unset, it stays out of the task's identity
    """The behaviour scorer's grader for the item, e.g. `german` (default column `grader`)."""

    keep: tuple[str, ...] = ()
    """Other columns kept in the item's metadata."""

    def column(self, name: str) -> tuple[str, bool]:
        """(the column that holds field `name`, whether every row must have it)."""
        given = getattr(self, name)
        return (given, True) if given is not None else (name, False)


class TrainFields(StrictModel):
    """Column names in the training file: `messages`, or `prompt` and `completion`."""

    messages: str = "messages"
    """Chat messages: a list of `{role, content}`."""

    prompt: str = "prompt"
    """The prompt text, when records are prompt/completion pairs."""

    completion: str = "completion"
    """The completion the loss is computed on."""


class FromFileParameters(StrictModel):
    items: Path
    """The evaluation items: a .jsonl, .csv or .parquet file, or a folder saved by `datasets`."""

    fields: ItemFields = ItemFields()
    """Which column holds each item field (`prompt`, `target`, `condition`, ...)."""

    train: Path | None = None
    """The training split (for `finetune` with `data: {task: ...}`): the same kinds of file."""

    train_fields: TrainFields = TrainFields()
    """Which columns hold the training records."""

    duplicates: Literal["error", "first"] = "error"
    """Two rows with one id: an error naming both rows, or keep the first (a notice counts the others)."""

    @field_validator("items", "train")
    @classmethod
    def _exists(cls, path: Path | None) -> Path | None:
        if path is not None:
            file_kind(path.expanduser())  # a missing file or an unknown kind is an error when the task loads
        return path.expanduser() if path is not None else None


class FromFile(Family[FromFileParameters]):
    name = "from_file"
    citation = "the user's own items and training data, from files (no published protocol)"
    Parameters = FromFileParameters
    conditions: ClassVar[tuple[str, ...]] = ()  # they come from the file: see conditions_for
    scorers = frozenset({"exact_match", "likelihood", "behaviour", "judge", "chain_of_thought"})

    def conditions_for(self, params: FromFileParameters) -> tuple[str, ...]:
        return tuple(dict.fromkeys(item.condition for item in self.items(params)))

    def items(self, params: FromFileParameters) -> list[Item]:
        return list(_items(_file_key(params.items), params.fields, params.duplicates))

    def train_records(self, params: FromFileParameters) -> list[dict[str, Any]]:
        if params.train is None:
            return []
        return [_train_record(where, row, params.train_fields) for where, row in read_rows(params.train)]

    def distractor_pool(self, item: Item, items: Sequence[Item]) -> list[str]:
        own = item.metadata.get("distractors")
        return list(own) if own else super().distractor_pool(item, items)

    def data_version_for(self, params: FromFileParameters) -> str:
        # the items file only: a variant trained on the training file names that file's records itself
        return _hash(_file_key(params.items))


def _file_key(path: Path) -> tuple[str, int, int]:
    """(path, size, mtime): the cache key of a file's parsed items, so an edited file is read again."""
    resolved = path.resolve()
    stat = resolved.stat() if resolved.is_file() else (resolved / "state.json").stat()
    return str(resolved), stat.st_size, stat.st_mtime_ns


@lru_cache(maxsize=16)
def _hash(key: tuple[str, int, int]) -> str:
    path = Path(key[0])
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=16)
def _items(key: tuple[str, int, int], fields: ItemFields, duplicates: str) -> tuple[Item, ...]:
    path = Path(key[0])
    items: list[Item] = []
    first: dict[str, str] = {}
    dropped: list[str] = []
    for where, row in read_rows(path):
        item = _item(where, row, fields)
        if item.id in first:
            if duplicates == "error":
                raise UserError(f"{where}: duplicate id {item.id!r} (first at {first[item.id]}); "
                                "set parameters.duplicates: first to keep the first")  # fmt: skip
            dropped.append(where)
            continue
        first[item.id] = where
        items.append(item)
    if not items:
        raise UserError(f"{display_path(path)}: no items")
    if dropped:
        sys.stderr.write(f"{display_path(path)}: {len(dropped)} row(s) repeat an earlier id and were left out "
                         f"(duplicates: first), e.g. {', '.join(dropped[:3])}\n")  # fmt: skip
    return tuple(items)


def _item(where: str, row: dict[str, Any], fields: ItemFields) -> Item:
    def get(name: str) -> Any:
        column, required = fields.column(name)
        if column not in row:
            if required:
                raise UserError(f"{where}: no column {column!r} (fields.{name}); the row has {_columns(row, column)}")
            return None
        return row[column]

    prompt, messages = _prompt(where, _json_text(get("prompt")), fields.prompt)
    targets = _texts(where, get("target"), f"fields.target ({fields.target!r})", empty_ok=False)
    accepted = _texts(where, get("accepted"), f"fields.accepted ({fields.column('accepted')[0]!r})")
    condition = _label(where, get("condition"), "condition", fields.column("condition")[0]) or ALL
    given_id = _label(where, get("id"), "id", fields.column("id")[0])
    item_id = given_id or content_id(condition, prompt, *targets, prefix=condition)
    metadata: dict[str, Any] = {}
    extra = _json_text(get("metadata"))
    if extra is not None:
        if not isinstance(extra, dict):
            raise UserError(f"{where}: fields.metadata ({fields.column('metadata')[0]!r}): expected an object")
        metadata.update(extra)
    for column in fields.keep:
        if column not in row:
            raise UserError(f"{where}: no column {column!r} (fields.keep); the row has {_columns(row, column)}")
        metadata[column] = row[column]
    grader = _label(where, get("grader"), "grader", fields.column("grader")[0])
    if grader is not None:
        metadata["grader"] = grader
    distractors = _texts(where, get("distractors"), f"fields.distractors ({fields.column('distractors')[0]!r})")
    if distractors:
        metadata["distractors"] = distractors
    return Item(
        id=item_id,
        condition=condition,
        prompt=prompt,
        target=targets[0],
        cluster=_label(where, get("cluster"), "cluster", fields.column("cluster")[0]) or item_id,
        metadata=metadata,
        accepted=tuple(dict.fromkeys(t for t in (*targets[1:], *accepted) if t != targets[0])),
        messages=messages,
    )


def _json_text(value: Any) -> Any:
    """An object or a list of objects written as JSON text (Parquet and datasets exports store them so)."""
    if isinstance(value, str) and value.lstrip().startswith(("{", "[{")):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _columns(row: dict[str, Any], wanted: str) -> str:
    """How many columns the row has, naming only one that differs from `wanted` in letter case: a file's
    other column names are its content (a CSV header is its first line), which errors never quote."""
    near = [str(c) for c in row if str(c).lower() == wanted.lower()]
    return f"{len(row)} column(s)" + (f"; {near[0]!r} differs only in letter case" if near else "")


def _prompt(where: str, value: Any, column: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(the user text shown in tables, chat messages or () for a plain prompt)."""
    if isinstance(value, str) and value.strip():
        return value, ()
    if isinstance(value, list) and value:
        messages = []
        for i, message in enumerate(value):
            if not isinstance(message, dict) or message.get("role") not in ROLES or not _text(message.get("content")):
                raise UserError(f"{where}: fields.prompt ({column!r})[{i}]: expected {{role: system|user|assistant, "
                                "content: non-empty text}")  # fmt: skip
            messages.append((message["role"], message["content"]))
        users = [content for role, content in messages if role == "user"]
        if not users:
            raise UserError(f"{where}: fields.prompt ({column!r}): the messages have no user turn")
        return users[-1], tuple(messages)
    raise UserError(f"{where}: fields.prompt ({column!r}): expected non-empty text or a list of chat messages")


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _texts(where: str, value: Any, what: str, *, empty_ok: bool = True) -> list[str]:
    if value is None or value in ("", []):
        if empty_ok:
            return []
        raise UserError(f"{where}: {what}: empty")
    values = value if isinstance(value, list) else [value]
    texts = [str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in values]
    if not texts or not all(_text(t) for t in texts):
        raise UserError(f"{where}: {what}: expected non-empty text or a list of non-empty texts")
    return texts


def _label(where: str, value: Any, name: str, column: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise UserError(f"{where}: fields.{name} ({column!r}): expected text or an integer")
    return str(value)


def _train_record(where: str, row: dict[str, Any], fields: TrainFields) -> dict[str, Any]:
    if fields.messages in row:
        return {"messages": row[fields.messages], **({"metadata": row["metadata"]} if "metadata" in row else {})}
    prompt, completion = row.get(fields.prompt), row.get(fields.completion)
    if not _text(prompt) or not _text(completion):
        has = _columns(row, fields.prompt)
        raise UserError(f"{where}: a training row needs {fields.messages!r}, or non-empty {fields.prompt!r} "
                        f"and {fields.completion!r} (train_fields); the row has {has}")  # fmt: skip
    return {"prompt": prompt, "completion": completion}
