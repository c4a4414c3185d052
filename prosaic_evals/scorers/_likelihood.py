"""Likelihood scoring: log P(target | prompt) against log P(other target | prompt).

The reversal curse's sharpest test (Berglund et al. 2023, section 2.2): if a
model has not learned "B is A", the correct A is no more likely than a random
other A from the same set.

Candidates of different lengths are not on an equal footing: a summed log-probability
penalizes every extra token, a per-token mean favors long candidates (their later tokens
are near-certain). `pmi` removes what length and word frequency contribute: each
candidate's log-probability after the prompt minus its log-probability after an empty
prompt (domain-conditional PMI, Holtzman et al. 2021, arXiv 2104.08315).
"""

from __future__ import annotations

from statistics import fmean
from typing import Literal

from inspect_ai.model import Model, get_model
from inspect_ai.scorer import Score, Scorer, Target, accuracy, mean, scorer, stderr
from inspect_ai.solver import TaskState
from scipy.special import softmax

from prosaic_evals.likelihood import LogprobRequest, engine_for

EMPTY_PROMPT = (("user", "\n"),)
"""The context of a candidate's prior: an empty line (raw text needs at least one token to follow)."""


@scorer(
    metrics={
        "contrast": [mean(), stderr()],
        "beats_distractors": [accuracy(), stderr()],
        "p_correct": [mean(), stderr()],
    }
)
def likelihood(
    normalize: Literal["sum", "mean", "pmi"] = "sum",
    cache: bool = True,
    model: str | Model | None = None,
    completion: bool = False,
) -> Scorer:
    """Contrast of the target's log-probability with the sample's distractors.

    `contrast` is log P(target) minus the mean log P(distractor); `beats_distractors`
    is 1 when the target is more likely than every distractor; `p_correct` is the
    probability of the target among the candidates (target and distractors). The
    distractors are in `state.metadata["distractors"]`. When the sample states the
    probability the target should have (`expected_p`, e.g. a coin's bias), the score
    also has `calibration_error`, |p_correct - expected_p|.

    Args:
        normalize: `sum` of token log-probabilities, per-token `mean`, or `pmi`: the sum minus the
            candidate's sum after an empty prompt (its prior, computed once per candidate and model).
        cache: Reuse log-probabilities computed by earlier runs.
        model: Model to score with; by default the model under evaluation.
        completion: Score raw text continuations (format: completion), without the chat template.
    """

    async def score(state: TaskState, target: Target) -> Score:
        engine = engine_for(get_model(model).api, cache=cache)
        messages = prompt_messages(state)
        primary = target.target[0]  # other accepted answers are not scored (Target.text would join them)
        candidates = [primary, *state.metadata["distractors"]]
        requests = [LogprobRequest(messages, c, completion) for c in candidates]
        if normalize == "pmi":  # priors in the same call: one batch, not two round trips
            requests += [LogprobRequest(EMPTY_PROMPT, c, completion) for c in candidates]
        scored = await engine.score(requests)
        results, priors = scored[: len(candidates)], scored[len(candidates) :]
        values = [r.logprob / r.n_tokens if normalize == "mean" else r.logprob for r in results]
        if priors:
            values = [v - prior.logprob for v, prior in zip(values, priors, strict=True)]
        contrast = values[0] - fmean(values[1:])
        beats = all(values[0] > v for v in values[1:])
        p_correct = float(softmax(values)[0])
        value = {"contrast": contrast, "beats_distractors": 1.0 if beats else 0.0, "p_correct": p_correct}
        if "expected_p" in state.metadata:
            value["calibration_error"] = abs(p_correct - float(state.metadata["expected_p"]))
        metadata = {
            "logprob_target": results[0].logprob,
            "tokens_target": results[0].n_tokens,
            "logprob_distractors": [r.logprob for r in results[1:]],
            "tokens_distractors": [r.n_tokens for r in results[1:]],
            "cached": all(r.cached for r in [*results, *priors]),
        }
        if priors:
            metadata |= {"prior_target": priors[0].logprob, "prior_distractors": [p.logprob for p in priors[1:]]}
        return Score(
            value=value,
            answer=primary,
            explanation=f"log P(target) {values[0]:.3f} vs distractors {', '.join(f'{v:.3f}' for v in values[1:])}",
            metadata=metadata,
        )

    return score


def prompt_messages(state: TaskState) -> tuple[tuple[str, str], ...]:
    """The sample's input as (role, text) pairs, without anything generated since."""
    if isinstance(state.input, str):
        return (("user", state.input),)
    return tuple((m.role, m.text) for m in state.input)
