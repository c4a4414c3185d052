from __future__ import annotations

from pathlib import Path

import pytest

from prosaic_evals._errors import UserError
from prosaic_evals.families.reversal_curse import CelebrityParents, read_pairs
from prosaic_evals.families.reversal_curse._celebrities import CelebrityParameters

# Invented people: the project ships no real-world data.
CSV = """child,parent,parent_type
Ada Quillon,Mara Quillon,mother
Ben Quillon,Mara Quillon,mother
Cy Dorne,Raf Dorne,father
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pairs.csv"
    path.write_text(text)
    return path


def test_pairs_are_asked_in_both_directions(tmp_path: Path) -> None:
    items = CelebrityParents().items(CelebrityParameters(csv=write(tmp_path, CSV)))
    forward = {i.prompt: i for i in items if i.condition == "child_to_parent"}
    backward = {i.prompt: i for i in items if i.condition == "parent_to_child"}
    assert forward["Who is Ada Quillon's mother?"].target == "Mara Quillon"
    assert forward["Who is Cy Dorne's father?"].target == "Raf Dorne"
    mara = backward["Name a child of Mara Quillon."]
    assert {mara.target, *mara.accepted} == {"Ada Quillon", "Ben Quillon"}
    assert len(backward) == 2 and len(forward) == 3
    assert len({i.id for i in items}) == len(items)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kid,parent,parent_type\nA,B,mother\n", "missing column(s) child"),
        ("child,parent,parent_type\nA,B,aunt\n", "pairs.csv:2: parent_type must be mother or father"),
        ("child,parent,parent_type\nA,,mother\n", "pairs.csv:2: empty parent"),
        (
            CSV + "Ada Quillon,Mara Quillon,mother\n",
            "pairs.csv:5: duplicate pair 'Ada Quillon', 'Mara Quillon' (first on line 2)",
        ),
        ("child,parent,parent_type\n", "no rows"),
    ],
)
def test_malformed_csv_files_are_one_line_errors(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(UserError) as info:
        read_pairs(write(tmp_path, text))
    assert expected in str(info.value)


def test_the_csv_is_required_and_must_exist(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"parameters\.csv is required"):
        CelebrityParents().items(CelebrityParameters())
    with pytest.raises(ValueError, match="file not found"):
        CelebrityParameters(csv=tmp_path / "absent.csv")
    assert CelebrityParents().train_records(CelebrityParameters()) == []
