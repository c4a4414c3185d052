"""Reversal curse (Berglund et al. 2023): invented facts and real-world parents."""

from prosaic_evals.families.reversal_curse._celebrities import CelebrityParents, read_pairs
from prosaic_evals.families.reversal_curse._family import ReversalCurse, ReversalCurseParameters
from prosaic_evals.families.reversal_curse._generator import (
    Fact,
    Template,
    generate_facts,
    load_templates,
    split_templates,
)

__all__ = [
    "CelebrityParents",
    "Fact",
    "ReversalCurse",
    "ReversalCurseParameters",
    "Template",
    "generate_facts",
    "load_templates",
    "read_pairs",
    "split_templates",
]
