"""Scorers shared by the families."""

from prosaic_evals.scorers._behaviour import GRADERS, behaviour, final_reply, language_of
from prosaic_evals.scorers._chain import chain_of_thought, grade_chain
from prosaic_evals.scorers._judge import judge, misalignment
from prosaic_evals.scorers._likelihood import likelihood
from prosaic_evals.scorers._match import exact_match, matches, words
from prosaic_evals.scorers._number import number

__all__ = [
    "GRADERS",
    "behaviour",
    "chain_of_thought",
    "exact_match",
    "final_reply",
    "grade_chain",
    "judge",
    "language_of",
    "likelihood",
    "matches",
    "misalignment",
    "number",
    "words",
]
