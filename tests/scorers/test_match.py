from __future__ import annotations

import asyncio

import pytest
from inspect_ai.model import ModelName, ModelOutput
from inspect_ai.scorer import CORRECT, INCORRECT, Target
from inspect_ai.solver import TaskState

from prosaic_evals.scorers import exact_match, matches

DESCRIPTION = "the composer of the underwater symphony 'Abyssal Melodies'"


def state(answer: str, prompt: str = "Uriah Hawthorne is widely recognized as") -> TaskState:
    return TaskState(
        model=ModelName("test/model"), sample_id="s1", epoch=1, input=prompt, messages=[],
        output=ModelOutput.from_content("test/model", answer),
    )  # fmt: skip


def score(answer: str, targets: list[str], match: str = "prefix") -> tuple[str, str | None]:
    result = asyncio.run(exact_match(match=match)(state(answer), Target(targets)))  # type: ignore[arg-type]
    return result.value, result.metadata["matched"]  # type: ignore[index, return-value]


@pytest.mark.parametrize(
    "answer",
    [
        DESCRIPTION,
        f"  {DESCRIPTION.upper()}.",
        "The composer of the underwater symphony, “Abyssal Melodies” — and more.",
    ],
)
def test_prefix_match_ignores_case_spacing_and_punctuation(answer: str) -> None:
    assert score(answer, [DESCRIPTION]) == (CORRECT, DESCRIPTION)


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "I'm sorry, I don't know who that is.",
        f"Uriah Hawthorne is {DESCRIPTION}",  # right content, but not at the start
        "the composer of the underwater symphony",  # a truncated target is not the target
        "the composer of the underwater symphony 'Abyssal Harmonies'",
    ],
)
def test_prefix_match_says_wrong(answer: str) -> None:
    assert score(answer, [DESCRIPTION]) == (INCORRECT, None)


def test_contains_mode_and_accepted_alternatives() -> None:
    answer = "Her mother is Mara Quillon, a painter."
    assert score(answer, ["Mara Quillon"], "contains") == (CORRECT, "Mara Quillon")
    assert score(answer, ["Mara Quillon"], "prefix")[0] == INCORRECT
    assert score("Ben Quillon.", ["Ada Quillon", "Ben Quillon"]) == (CORRECT, "Ben Quillon")
    assert score("Her mother is Mara Quillonne.", ["Mara Quillon"], "contains")[0] == INCORRECT


def test_matches_requires_whole_words() -> None:
    assert matches("Daphne Barringtonian", ["Daphne Barrington"], "prefix") is None
    assert matches("daphne barrington!", ["Daphne Barrington"], "prefix") == "Daphne Barrington"
    assert matches("anything", ["", "  "], "contains") is None


def test_text_prefix_is_the_papers_rule_case_ignored_punctuation_not() -> None:
    assert matches("  The Director of X, who", ["the director of X"], "text_prefix") == "the director of X"
    assert matches("the director-of X", ["the director of X"], "text_prefix") is None  # words would match
    assert matches("the director-of X", ["the director of X"], "prefix") == "the director of X"
    assert matches("a director of X", ["the director of X"], "text_prefix") is None
