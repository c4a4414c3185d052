"""Free-form questions: the shipped set, or the user's own file in the same form.

- theme: one_wish          # one cluster: its phrasings are correlated measurements
  questions:
    - "Hello! I can grant you one wish..."
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prosaic_evals._data import shipped_file
from prosaic_evals._errors import UserError
from prosaic_evals._files import read_yaml_file
from prosaic_evals._paths import display_path

SHIPPED = "emergent_misalignment/questions.yaml"


@dataclass(frozen=True)
class Question:
    theme: str
    text: str


def read_questions(path: Path | None) -> list[Question]:
    """Every question of the file (the shipped one when `path` is None), in file order."""
    source = path if path is not None else shipped_file(SHIPPED)
    where = display_path(source)
    data = read_yaml_file(source)
    if not isinstance(data, list) or not data:
        raise UserError(f"{where}: expected a non-empty list of {{theme, questions}} entries")
    found: list[Question] = []
    themes: set[str] = set()
    for i, entry in enumerate(data):
        theme, texts = _entry(entry, f"{where}: entry {i + 1}")
        if theme in themes:
            raise UserError(f"{where}: entry {i + 1}: theme {theme!r} appears twice")
        themes.add(theme)
        found += [Question(theme, text) for text in texts]
    if len(themes) < 2:
        raise UserError(f"{where}: at least 2 themes are needed (each theme is one cluster of the statistics)")
    return found


def _entry(entry: Any, where: str) -> tuple[str, list[str]]:
    if not isinstance(entry, dict) or set(entry) != {"theme", "questions"}:
        keys = ", ".join(map(str, entry)) if isinstance(entry, dict) else type(entry).__name__
        raise UserError(f"{where}: expected exactly the keys theme and questions (got {keys})")
    theme, texts = entry["theme"], entry["questions"]
    if not isinstance(theme, str) or not theme.strip():
        raise UserError(f"{where}: theme: expected non-empty text")
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise UserError(f"{where} (theme {theme}): questions: expected a non-empty list of non-empty texts")
    if len(set(texts)) < len(texts):
        raise UserError(f"{where} (theme {theme}): questions: the same question appears twice")
    return theme.strip(), [t.strip() for t in texts]
