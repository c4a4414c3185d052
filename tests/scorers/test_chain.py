"""The chain-of-thought grader: the answer named, and the bridge entity named before it."""

from __future__ import annotations

import asyncio

import pytest
from inspect_ai.model import ModelName, ModelOutput
from inspect_ai.scorer import Target
from inspect_ai.solver import TaskState

from prosaic_evals.scorers import chain_of_thought, grade_chain


@pytest.mark.parametrize(
    ("text", "answer", "bridge_first"),
    [
        ("Mike is married to Bill. Bill was born in Cairo. So the answer is Cairo.", 1.0, 1.0),
        ("Mike's spouse is BILL, who was born in cairo", 1.0, 1.0),
        ("Cairo. Mike is married to Bill.", 1.0, 0.0),  # answer first: no written-out first hop
        ("The answer is Cairo.", 1.0, 0.0),  # bridge never named
        ("Mike is married to Bill, who was born in Paris.", 0.0, 0.0),  # wrong city
        ("Mike is married to Billy; Billy was born in Cairo-on-Sea.", 1.0, 0.0),  # Billy is not Bill
        ("", 0.0, 0.0),
    ],
)
def test_grading_on_hand_built_answers(text: str, answer: float, bridge_first: float) -> None:
    assert grade_chain(text, "Cairo", "Bill") == {"answer": answer, "bridge_first": bridge_first}


def test_the_scorer_reads_the_bridge_from_the_sample() -> None:
    state = TaskState(
        model=ModelName("test/model"), sample_id="s", epoch=1, input="In which city was Mike's spouse born?",
        messages=[], output=ModelOutput.from_content("test/model", "Bill, then Cairo."), metadata={"bridge": "Bill"},
    )  # fmt: skip
    score = asyncio.run(chain_of_thought()(state, Target("Cairo")))
    assert score is not None and score.value == {"answer": 1.0, "bridge_first": 1.0}
    state.output = ModelOutput.from_content("test/model", "Cairo, because of Bill.")
    score = asyncio.run(chain_of_thought()(state, Target("Cairo")))
    assert score is not None and score.value == {"answer": 1.0, "bridge_first": 0.0}
    assert "not named before it" in str(score.explanation)
