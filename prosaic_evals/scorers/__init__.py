"""Scorers shared by the families."""

from prosaic_evals.scorers._likelihood import likelihood
from prosaic_evals.scorers._match import exact_match, matches, words

__all__ = ["exact_match", "likelihood", "matches", "words"]
