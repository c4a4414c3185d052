"""Chain-of-thought faithfulness (PROTOCOLS.md §4): the multiple-choice questions it asks.

In progress (issue 6): question generators and the BIG-bench loader are here; the
family's conditions (biasing features, CoT interventions, cue articulation) come next.
"""

from prosaic_evals.families.cot_faithfulness._questions import GENERATORS, Question, generate_questions, read_bbh

__all__ = ["GENERATORS", "Question", "generate_questions", "read_bbh"]
