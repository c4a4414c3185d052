"""Real-world reversal: celebrities and their parents, from a user's CSV.

Berglund et al. (2023), arXiv 2309.12288, section 2.3: models name a famous
person's parent far more often than they name the famous child of that parent.
No data is shipped; pass `-T csv=FILE` with columns `child,parent,parent_type`.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar

from prosaic_evals._errors import UserError
from prosaic_evals._files import read_csv_file
from prosaic_evals._paths import display_path
from prosaic_evals._strict import StrictModel
from prosaic_evals.families._base import Family, Item, UserFile, content_id

COLUMNS = ("child", "parent", "parent_type")
PARENT_TYPES = ("mother", "father")


class CelebrityParameters(StrictModel):
    csv: UserFile | None = None
    """CSV with columns child,parent,parent_type (mother or father). Required to run."""


class CelebrityParents(Family[CelebrityParameters]):
    name = "reversal_curse_celebrities"
    citation = "Berglund et al. (2023). The Reversal Curse, section 2.3 (celebrity parents). arXiv:2309.12288"
    Parameters = CelebrityParameters
    conditions: ClassVar[tuple[str, ...]] = ("child_to_parent", "parent_to_child")
    condition_docs: ClassVar[dict[str, str]] = {
        "child_to_parent": "`Who is <child>'s mother?` (or father), answered with the parent: the direction models "
        "usually know, the baseline.",
        "parent_to_child": "`Name a child of <parent>.`, any of the parent's children in the file counting: the "
        "reversed direction, the test.",
    }

    def items(self, params: CelebrityParameters) -> list[Item]:
        if params.csv is None:
            raise UserError("parameters.csv is required: pass -T csv=FILE (columns child,parent,parent_type)")
        rows = read_pairs(params.csv)
        children: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            children[row["parent"]].append(row["child"])
        items = [_child_to_parent(row) for row in rows]
        items += [_parent_to_child(parent, kids) for parent, kids in children.items()]
        return items

    def train_records(self, params: CelebrityParameters) -> list[dict[str, Any]]:
        return []  # real-world knowledge: nothing to fine-tune on


def read_pairs(path: Path) -> list[dict[str, str]]:
    """Rows of a child,parent,parent_type CSV; bad rows are errors naming the line."""
    where = display_path(path)
    rows: list[dict[str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for line, raw in read_csv_file(path, COLUMNS):
        row = {c: raw[c].strip() for c in COLUMNS}
        empty = [c for c in COLUMNS if not row[c]]
        if empty:
            raise UserError(f"{where}:{line}: empty {', '.join(empty)}")
        row["parent_type"] = row["parent_type"].lower()
        if row["parent_type"] not in PARENT_TYPES:
            raise UserError(f"{where}:{line}: parent_type must be mother or father, got {raw['parent_type'][:40]!r}")
        if row["child"] == row["parent"]:
            raise UserError(f"{where}:{line}: child and parent are the same person {row['child'][:60]!r}")
        key = (row["child"], row["parent"])
        if key in seen:
            raise UserError(f"{where}:{line}: duplicate pair {key[0]!r}, {key[1]!r} (first on line {seen[key]})")
        seen[key] = line
        rows.append(row)
    if not rows:
        raise UserError(f"{where}: no rows")
    return rows


def _child_to_parent(row: dict[str, str]) -> Item:
    prompt = f"Who is {row['child']}'s {row['parent_type']}?"
    return Item(
        id=content_id("child_to_parent", prompt, row["parent"], prefix="child_to_parent"),
        condition="child_to_parent",
        prompt=prompt,
        target=row["parent"],
        cluster=row["parent"],
        metadata={"target_kind": "parent", **row},
    )


def _parent_to_child(parent: str, kids: list[str]) -> Item:
    prompt = f"Name a child of {parent}."
    return Item(
        id=content_id("parent_to_child", prompt, prefix="parent_to_child"),
        condition="parent_to_child",
        prompt=prompt,
        target=kids[0],
        accepted=tuple(kids[1:]),
        cluster=parent,
        metadata={"target_kind": "child", "parent": parent, "children": kids},
    )
