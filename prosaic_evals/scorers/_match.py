"""Exact-match scoring of a generated answer (case, spacing and punctuation ignored)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from inspect_ai.scorer import CORRECT, INCORRECT, Score, Scorer, Target, accuracy, scorer, stderr
from inspect_ai.solver import TaskState

MatchMode = Literal["prefix", "contains", "text_prefix"]


def words(text: str) -> list[str]:
    """Lower-case word tokens: what exact match compares."""
    return re.findall(r"[^\W_]+", text.lower())


def matches(answer: str, targets: Iterable[str], mode: MatchMode) -> str | None:
    """The first target that `answer` starts with (`prefix`: as words; `text_prefix`: as text, ignoring
    letter case and leading whitespace, the reversal-curse paper's rule) or contains, else None."""
    said = words(answer)
    for target in targets:
        if mode == "text_prefix":
            if target.strip() and answer.lstrip().lower().startswith(target.strip().lower()):
                return target
            continue
        wanted = words(target)
        if not wanted:
            continue
        if mode == "prefix" and said[: len(wanted)] == wanted:
            return target
        if mode == "contains" and any(said[i : i + len(wanted)] == wanted for i in range(len(said) - len(wanted) + 1)):
            return target
    return None


@scorer(metrics=[accuracy(), stderr()])
def exact_match(match: MatchMode = "prefix") -> Scorer:
    """Correct when the answer starts with (or contains) any accepted target.

    Args:
        match: `prefix` (word tokens: case, spacing and punctuation ignored), `text_prefix` (the text itself,
            case ignored: the reversal-curse paper's definition) or `contains` (word tokens).
    """

    async def score(state: TaskState, target: Target) -> Score:
        answer = state.output.completion
        hit = matches(answer, target.target, match)
        verb = "contains" if match == "contains" else "starts with"
        return Score(
            value=CORRECT if hit else INCORRECT,
            answer=answer,
            explanation=f"answer {verb} {hit!r}" if hit else f"answer {verb} none of {target.target!r}",
            metadata={"matched": hit},
        )

    return score
