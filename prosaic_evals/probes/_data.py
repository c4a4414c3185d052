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

import pandas as pd

from prosaic_evals._errors import UserError

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
    """A user's probe dataset (JSONL or CSV)."""
    if not path.is_file():
        raise UserError(f"probe data file not found: {path}")
    try:
        if path.suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            frame = pd.read_json(path, lines=True, dtype=False)
    except ValueError as e:
        raise UserError(f"{path}: cannot read probe data ({str(e).splitlines()[0]})") from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)} (need text, label, group)")
    if frame.empty:
        raise UserError(f"{path}: no rows")
    for column in REQUIRED:
        blank = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
        if blank.any():
            raise UserError(f"{path}: row {int(blank.idxmax()) + 1}: empty {column!r}")
    ids = frame["id"].astype(str).tolist() if "id" in frame.columns else [str(i + 1) for i in range(len(frame))]
    if len(set(ids)) != len(ids):
        raise UserError(f"{path}: duplicate ids in column 'id'")
    extra = [c for c in frame.columns if c not in (*REQUIRED, "id", "condition")]
    return ProbeData(
        ids=ids,
        texts=frame["text"].astype(str).tolist(),
        labels=frame["label"].astype(str).tolist(),
        groups=frame["group"].astype(str).tolist(),
        conditions=frame["condition"].astype(str).tolist() if "condition" in frame.columns else [""] * len(frame),
        fields=[{c: str(row[c]) for c in extra} for _, row in frame.iterrows()],
        source=str(path),
    )
