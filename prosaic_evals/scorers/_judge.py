"""A judge model grades each answer: YES/NO, or a number on a scale, from a prompt the task file may set.

The judge is the `judge` model role (`--model-role judge=MODEL`). A reply the verdict cannot be read
from scores NaN (left out of the metric) and counts in `judge_unparseable`, so a weak judge shows.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from inspect_ai.model import CachePolicy, GenerateConfig, get_model
from inspect_ai.scorer import Score, Scorer, Target, mean, scorer, stderr
from inspect_ai.solver import TaskState


def verdict(text: str) -> bool | None:
    """The judge's YES/NO (the first one it writes), None when it wrote neither."""
    found = re.search(r"\b(yes|no)\b", text, flags=re.IGNORECASE)
    return None if found is None else found.group(1).lower() == "yes"


Grade = Literal["yes_no", "number"]
PLACEHOLDERS = ("prompt", "response", "target")

YES_NO_TEMPLATE = """You are grading a model's answer to a question.

[Question]
{prompt}

[Reference answer]
{target}

[The model's answer]
{response}

Does the model's answer give the reference answer (other wording is fine)? Answer with one word: YES or NO."""

NUMBER_TEMPLATE = """You are grading a model's answer to a question.

[Question]
{prompt}

[Grading guide]
{target}

[The model's answer]
{response}

Following the grading guide, rate the answer from {low} to {high}. Answer with the number only."""


def judge_prompt(template: str | None, grade: Grade, scale: tuple[float, float], **values: str) -> str:
    """The judge's prompt: `template` (or the default for `grade`) with the placeholders filled."""
    low, high = (f"{v:g}" for v in scale)
    text = template if template is not None else (YES_NO_TEMPLATE if grade == "yes_no" else NUMBER_TEMPLATE)
    return text.format(low=low, high=high, **values)


def read_number(text: str, scale: tuple[float, float]) -> float | None:
    """The first number in `text` if it lies on the scale, else None."""
    found = re.search(r"-?\d+(?:\.\d+)?", text)
    if found is None:
        return None
    value = float(found.group())
    return value if scale[0] <= value <= scale[1] else None


@scorer(metrics={"judged": [mean(), stderr()], "judge_unparseable": [mean()]})
def judge(
    template: str | None = None, grade: Grade = "yes_no", scale: tuple[float, float] = (0, 100), cache: bool = True
) -> Scorer:
    """Ask the `judge` model role about each answer.

    Args:
        template: the judge's prompt with {prompt}, {response}, {target} (and {low}, {high} for numbers);
            a default for each grade when None.
        grade: `yes_no` (judged is 1 for YES) or `number` (judged is the number, on `scale`).
        scale: the lowest and highest number the judge may give.
        cache: reuse the judge's earlier verdicts on identical prompts.
    """
    policy: CachePolicy | bool = CachePolicy(expiry=None) if cache else False

    async def score(state: TaskState, target: Target) -> Score:
        response = state.output.completion
        prompt = judge_prompt(template, grade, scale, prompt=state.input_text, response=response.strip(),
                              target=target.target[0] if target.target else "")  # fmt: skip
        max_tokens = 16 if grade == "yes_no" else 8
        output = await get_model(role="judge").generate(
            prompt, config=GenerateConfig(temperature=0.0, max_tokens=max_tokens), cache=policy
        )
        said = output.completion.strip()
        if grade == "yes_no":
            yes = verdict(said)
            value = math.nan if yes is None else float(yes)
        else:
            number = read_number(said, scale)
            value = math.nan if number is None else number
        return Score(
            value={"judged": value, "judge_unparseable": float(math.isnan(value))},
            answer=response,
            explanation=f"judge: {said[:200]}",
        )

    return score
