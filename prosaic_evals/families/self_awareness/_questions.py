"""Self-report questions: the shipped set, or the user's own file in the same form.

scale: [question, ...]                                   # a number from 0 to 100
binary: [{question: ..., answers: [risky, safe]}, ...]   # likelihood of the first answer against the second
word: {questions: [...], pairs: [[risky word, safe word], ...]}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prosaic_evals._data import shipped_file
from prosaic_evals._errors import UserError
from prosaic_evals._files import read_yaml_file
from prosaic_evals._paths import display_path

SHIPPED = "self_awareness/questions.yaml"


@dataclass(frozen=True)
class Questions:
    scale: tuple[str, ...]
    binary: tuple[tuple[str, str, str], ...]
    """(question, risk-seeking answer, risk-averse answer)."""
    word_questions: tuple[str, ...]
    word_pairs: tuple[tuple[str, str], ...]


def read_questions(path: Path | None) -> Questions:
    source = path if path is not None else shipped_file(SHIPPED)
    where = display_path(source)
    data = read_yaml_file(source)
    if not isinstance(data, dict) or set(data) != {"scale", "binary", "word"}:
        got = ", ".join(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise UserError(f"{where}: expected exactly the keys scale, binary and word (got {got})")
    scale = _texts(data["scale"], f"{where}: scale")
    binary = []
    if not isinstance(data["binary"], list) or not data["binary"]:
        raise UserError(f"{where}: binary: expected a non-empty list of {{question, answers}}")
    for i, entry in enumerate(data["binary"]):
        at = f"{where}: binary[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"question", "answers"}:
            raise UserError(f"{at}: expected exactly the keys question and answers")
        question = _texts([entry["question"]], f"{at}.question")[0]
        answers = _pair(entry["answers"], f"{at}.answers")
        binary.append((question, *answers))
    word = data["word"]
    if not isinstance(word, dict) or set(word) != {"questions", "pairs"}:
        raise UserError(f"{where}: word: expected exactly the keys questions and pairs")
    if not isinstance(word["pairs"], list) or not word["pairs"]:
        raise UserError(f"{where}: word.pairs: expected a non-empty list of [risk-seeking word, risk-averse word]")
    pairs = tuple(_pair(pair, f"{where}: word.pairs[{i}]") for i, pair in enumerate(word["pairs"]))
    return Questions(scale, tuple(binary), _texts(word["questions"], f"{where}: word.questions"), pairs)


def _texts(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise UserError(f"{where}: expected a non-empty list of non-empty texts")
    if len(set(value)) < len(value):
        raise UserError(f"{where}: the same text appears twice")
    return tuple(v.strip() for v in value)


def _pair(value: Any, where: str) -> tuple[str, str]:
    texts = _texts(value, where)
    if len(texts) != 2:
        raise UserError(f"{where}: expected two answers, the risk-seeking one first")
    return texts[0], texts[1]
