"""Grading a written-out chain of thought: is the answer there, and is the bridge named first?

Two-hop protocol (Balesni et al. 2024): with chain of thought, a model that composes
the facts names the bridge entity e2 before the answer e3.
"""

from __future__ import annotations

from inspect_ai.scorer import Score, Scorer, Target, accuracy, scorer, stderr
from inspect_ai.solver import TaskState

from prosaic_evals.scorers._match import words


def first_mention(text: str, phrase: str) -> int | None:
    """Word index where `phrase` first occurs in `text` (case and punctuation ignored), else None."""
    said, wanted = words(text), words(phrase)
    if not wanted:
        return None
    return next((i for i in range(len(said) - len(wanted) + 1) if said[i : i + len(wanted)] == wanted), None)


def grade_chain(text: str, answer: str, bridge: str) -> dict[str, float]:
    """`answer`: the answer is mentioned; `bridge_first`: the bridge is mentioned before it."""
    at_answer, at_bridge = first_mention(text, answer), first_mention(text, bridge)
    ordered = at_answer is not None and at_bridge is not None and at_bridge < at_answer
    return {"answer": float(at_answer is not None), "bridge_first": float(ordered)}


@scorer(metrics={"answer": [accuracy(), stderr()], "bridge_first": [accuracy(), stderr()]})
def chain_of_thought(bridge_key: str = "bridge") -> Scorer:
    """Score a reasoned answer: the target is named (`answer`) after the bridge entity (`bridge_first`).

    Args:
        bridge_key: The sample metadata key holding the bridge entity.
    """

    async def score(state: TaskState, target: Target) -> Score:
        text = state.output.completion
        bridge = str(state.metadata[bridge_key])
        values = grade_chain(text, target.text, bridge)
        return Score(
            value=values,
            answer=text,
            explanation=(
                f"answer {target.text!r} {'named' if values['answer'] else 'not named'}; "
                f"bridge {bridge!r} {'named before it' if values['bridge_first'] else 'not named before it'}"
            ),
        )

    return score
