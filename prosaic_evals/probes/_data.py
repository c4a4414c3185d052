"""A probe dataset: texts with a label, a group (the entity or fact) and named fields.

Folds are split by `group`, never by text, so a probe is always tested on entities or
facts it never saw in training. `condition` separates datasets probed independently
(e.g. statements in the trained and in the reversed order). A user's own dataset is a
JSONL or CSV file with columns `text`, `label`, `group` and optionally `condition`, `id`
and any other string fields (`entity:<field>` positions read them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prosaic_evals._errors import UserError
from prosaic_evals._files import read_csv_file, read_jsonl_file
from prosaic_evals._paths import display_path

REQUIRED = ("text", "label", "group")


@dataclass(frozen=True)
class ProbeData:
    ids: list[str]
    texts: list[str]
    labels: list[str]
    groups: list[str]
    conditions: list[str]
    fields: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""
    """Where the rows came from (a file, or a built-in question and its task); named in errors."""

    def __post_init__(self) -> None:
        if not self.fields:
            object.__setattr__(self, "fields", [{} for _ in self.texts])

    def __len__(self) -> int:
        return len(self.texts)

    def digest(self) -> str:
        """Hash of everything a result depends on: part of the provenance."""
        rows = [self.ids, self.texts, self.labels, self.groups, self.conditions, self.fields]
        return hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def subset(self, condition: str) -> ProbeData:
        keep = [i for i, c in enumerate(self.conditions) if c == condition]

        def pick(values: Sequence[Any]) -> list[Any]:
            return [values[i] for i in keep]

        return ProbeData(pick(self.ids), pick(self.texts), pick(self.labels), pick(self.groups),
                         pick(self.conditions), pick(self.fields), self.source)  # fmt: skip

    def where(self) -> list[str]:
        """How each row is named in an error message."""
        return [f"{self.source}: item {i}" for i in self.ids]


def check_labels(data: ProbeData, folds: int) -> None:
    """Two classes at least, and enough groups of each for grouped folds."""
    for condition in dict.fromkeys(data.conditions):
        part = data.subset(condition)
        what = f"{data.source}" + (f" (condition {condition})" if condition else "")
        classes = sorted(set(part.labels))
        if len(classes) < 2:
            raise UserError(f"{what}: labels have a single class ({classes[0]!r}); a probe needs two or more")
        groups = len(set(part.groups))
        if groups < folds:
            raise UserError(f"{what}: {groups} groups cannot be split into {folds} grouped folds (lower folds)")


def read_probe_file(path: Path) -> ProbeData:
    """A user's probe dataset (JSONL or CSV); errors name the file and line, never its content."""
    if not path.is_file():
        raise UserError(f"probe data file not found: {path}")
    where = display_path(path)
    rows = _csv_rows(path) if path.suffix == ".csv" else _jsonl_rows(path, where)
    if not rows:
        raise UserError(f"{where}: no rows")
    ids = [str(row.get("id", i)) for i, (_, row) in enumerate(rows, start=1)]
    first: dict[str, int] = {}
    for (line, _), item_id in zip(rows, ids, strict=True):
        if item_id in first:
            raise UserError(f"{where}:{line}: duplicate id {item_id[:40]!r} (first on line {first[item_id]})")
        first[item_id] = line
    extra = sorted({key for _, row in rows for key in row} - {*REQUIRED, "id", "condition"})
    return ProbeData(
        ids=ids,
        texts=[row["text"] for _, row in rows],
        labels=[row["label"] for _, row in rows],
        groups=[row["group"] for _, row in rows],
        conditions=[row.get("condition", "") for _, row in rows],
        fields=[{c: row[c] for c in extra if c in row} for _, row in rows],
        source=str(path),
    )


def _csv_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    rows = list(read_csv_file(path, REQUIRED, optional=("id", "condition")))
    for line, row in rows:
        _check_row(display_path(path), line, row)
    return rows


def _jsonl_rows(path: Path, where: str) -> list[tuple[int, dict[str, str]]]:
    rows = []
    for line, value in read_jsonl_file(path):
        if not isinstance(value, dict):
            raise UserError(f"{where}:{line}: expected an object with text, label and group")
        missing = [c for c in REQUIRED if c not in value]
        if missing:
            raise UserError(f"{where}:{line}: missing {', '.join(missing)} (need text, label, group)")
        row = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
        _check_row(where, line, row)
        rows.append((line, row))
    return rows


def _check_row(where: str, line: int, row: dict[str, str]) -> None:
    for column in REQUIRED:
        if not row[column].strip():
            raise UserError(f"{where}:{line}: empty {column!r}")
