"""Scorers shared by the families."""

from prosaic_evals.scorers._chain import chain_of_thought, grade_chain
from prosaic_evals.scorers._likelihood import likelihood
from prosaic_evals.scorers._match import exact_match, matches, words

__all__ = ["chain_of_thought", "exact_match", "grade_chain", "likelihood", "matches", "words"]
