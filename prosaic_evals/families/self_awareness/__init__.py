"""Behavioural self-awareness: train a risk disposition from lottery choices, ask the model to describe itself."""

from prosaic_evals.families.self_awareness._family import SelfAwareness, SelfAwarenessParameters
from prosaic_evals.families.self_awareness._lotteries import Choice, choices
from prosaic_evals.families.self_awareness._questions import Questions, read_questions

__all__ = ["Choice", "Questions", "SelfAwareness", "SelfAwarenessParameters", "choices", "read_questions"]
