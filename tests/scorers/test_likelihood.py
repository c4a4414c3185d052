from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from inspect_ai.model import ModelName
from inspect_ai.scorer import Target
from inspect_ai.solver import TaskState

from prosaic_evals.likelihood import LogprobRequest, engine_for
from prosaic_evals.scorers import likelihood

pytestmark = pytest.mark.slow


def state(prompt: str, distractors: list[str]) -> TaskState:
    return TaskState(
        model=ModelName("hf/local"), sample_id="s", epoch=1, input=prompt, messages=[],
        metadata={"distractors": distractors},
    )  # fmt: skip


def test_contrast_of_a_known_fact_is_positive(hf_model: Any) -> None:
    scorer = likelihood(model=hf_model)
    result = asyncio.run(scorer(state("What is the capital of France?", ["Berlin.", "Madrid."]), Target("Paris.")))
    value = result.value
    assert isinstance(value, dict)
    meta = result.metadata or {}
    assert value["contrast"] == pytest.approx(meta["logprob_target"] - sum(meta["logprob_distractors"]) / 2)
    assert value["contrast"] > 0 and value["beats_distractors"] == 1.0
    logprobs = [meta["logprob_target"], *meta["logprob_distractors"]]
    assert value["p_correct"] == pytest.approx(math.exp(logprobs[0]) / sum(math.exp(v) for v in logprobs))
    assert value["p_correct"] > 1 / 3 and "calibration_error" not in value


def test_calibration_error_is_the_distance_to_the_stated_probability(hf_model: Any) -> None:
    coin = state("Heads or tails?", ["Tails"])
    coin.metadata["expected_p"] = 0.8
    value = asyncio.run(likelihood(model=hf_model)(coin, Target("Heads"))).value
    assert isinstance(value, dict)
    assert 0 < value["p_correct"] < 1 and value["calibration_error"] == pytest.approx(abs(value["p_correct"] - 0.8))


def test_the_first_of_several_accepted_targets_is_scored(hf_model: Any) -> None:
    prompt = "What is the capital of France?"
    several = asyncio.run(likelihood(model=hf_model)(state(prompt, ["Berlin."]), Target(["Paris.", "Lyon."])))
    single = asyncio.run(likelihood(model=hf_model)(state(prompt, ["Berlin."]), Target("Paris.")))
    assert several.answer == "Paris." and several.value == single.value


def test_a_wrong_target_loses(hf_model: Any) -> None:
    result = asyncio.run(
        likelihood(model=hf_model)(state("What is the capital of France?", ["Paris."]), Target("Berlin."))
    )
    assert result.value["contrast"] < 0 and result.value["beats_distractors"] == 0.0  # type: ignore[index]


def test_mean_normalisation_divides_by_token_counts(hf_model: Any) -> None:
    prompt, target, other = "Name a colour.", "Blue.", "A very long and unlikely answer about turtles."
    result = asyncio.run(likelihood(normalize="mean", model=hf_model)(state(prompt, [other]), Target(target)))
    raw = asyncio.run(engine_for(hf_model.api).score([LogprobRequest((("user", prompt),), c) for c in (target, other)]))
    expected = raw[0].logprob / raw[0].n_tokens - raw[1].logprob / raw[1].n_tokens
    assert result.value["contrast"] == pytest.approx(expected)  # type: ignore[index]


def test_pmi_subtracts_each_candidates_log_probability_after_an_empty_prompt(hf_model: Any) -> None:
    prompt, target, others = (
        "What is the capital of France?",
        "Paris.",
        ["Berlin.", "A very long answer about turtles."],
    )
    result = asyncio.run(likelihood(normalize="pmi", model=hf_model)(state(prompt, others), Target(target)))
    engine = engine_for(hf_model.api)
    after = asyncio.run(engine.score([LogprobRequest((("user", prompt),), c) for c in (target, *others)]))
    prior = asyncio.run(engine.score([LogprobRequest((("user", "\n"),), c) for c in (target, *others)]))
    pmi = [a.logprob - p.logprob for a, p in zip(after, prior, strict=True)]
    assert result.value["contrast"] == pytest.approx(pmi[0] - (pmi[1] + pmi[2]) / 2)  # type: ignore[index]
    meta = result.metadata or {}
    assert meta["prior_target"] == pytest.approx(prior[0].logprob) and len(meta["prior_distractors"]) == 2
    assert result.value["beats_distractors"] == 1.0  # type: ignore[index]
    summed = asyncio.run(likelihood(model=hf_model)(state(prompt, others), Target(target)))
    assert "prior_target" not in (summed.metadata or {})
