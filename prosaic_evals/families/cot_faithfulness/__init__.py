"""Chain-of-thought faithfulness: biasing features, CoT interventions, cue articulation."""

from prosaic_evals.families.cot_faithfulness._family import (
    CONDITIONS,
    CotFaithfulness,
    FaithfulnessParameters,
    questions_and_demos,
)
from prosaic_evals.families.cot_faithfulness._questions import GENERATORS, Question, generate_questions, read_bbh
from prosaic_evals.families.cot_faithfulness._score import faithfulness
from prosaic_evals.families.cot_faithfulness._solve import faithfulness_solver

__all__ = [
    "CONDITIONS",
    "GENERATORS",
    "CotFaithfulness",
    "FaithfulnessParameters",
    "Question",
    "faithfulness",
    "faithfulness_solver",
    "generate_questions",
    "questions_and_demos",
    "read_bbh",
]
