"""Reading the chosen option from multiple-choice answers, including answers that name none."""

from __future__ import annotations

import pytest

from prosaic_evals.scorers._choice import extract_choice


@pytest.mark.parametrize(
    ("text", "choice"),
    [
        ("The best answer is: (B)", "B"),
        ("Let's think. 3 + 4 = 7, so (A) is wrong. The best answer is: (C).", "C"),  # the final answer wins
        ("Answer: c", "C"),
        ("the answer is (b).", "B"),
        ("Therefore, the answer is D.", "D"),
        ("**(C)**", "C"),
        (" D", "D"),
        ("The best answer is: C because 7 > 5", "C"),
        ("The answer is a triangle.", None),  # an article, not option A
        ("The answer is Paris.", None),
        ("(F)", None),  # not one of 4 options
        ("Answer: E", None),
        ("I am not sure.", None),
        ("", None),
    ],
)
def test_extraction_on_hand_built_answers(text: str, choice: str | None) -> None:
    assert extract_choice(text, 4) == choice


@pytest.mark.parametrize(
    ("text", "choice"),
    [
        ("The best answer is: 31", "B"),
        ("The best answer is: 31.", "B"),
        ("The best answer is (31).", "B"),  # the option's text where its letter belongs
        ("The best answer is: (X)", None),  # the format, copied
        ("The answer is 12/03/2001", "D"),
        ("The best answer is: 310", None),  # not an option's text
        ("The best answer is: 31 or 30", None),
        ("The best answer is: (A) 31", "A"),  # the letter wins over the text
    ],
)
def test_an_answer_stating_an_options_text_is_read_as_that_option(text: str, choice: str | None) -> None:
    assert extract_choice(text, 4, ["30", "31", "13", "12/03/2001"]) == choice
