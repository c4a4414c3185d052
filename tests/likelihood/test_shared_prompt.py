"""Candidates of one prompt share its forward pass on local weights; the numbers must not change.

A small model of the embedded model's architecture, built from a config with random weights:
these tests are about the mechanics (key/value cache reuse, padding, grouping), not the model."""

from __future__ import annotations

import asyncio
import random

import pytest

from prosaic_evals.likelihood._backends import HFForward, _token_chunks
from prosaic_evals.likelihood._types import Tokenized


@pytest.fixture(scope="module")
def tiny_model() -> object:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
    )  # fmt: skip
    return LlamaForCausalLM(config).eval()


def one_pass_each(model: object, batch: list[Tokenized]) -> list[float]:
    """The plain reference: one unpadded forward pass over prompt + candidate for every candidate."""
    import torch

    out = []
    for t in batch:
        ids = torch.tensor([t.prompt + t.continuation])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)  # type: ignore[operator]
        rows = range(len(t.prompt) - 1, len(t.prompt) - 1 + len(t.continuation))
        out.append(sum(float(logp[r, ids[0, r + 1]]) for r in rows))
    return out


def requests(seed: int) -> list[Tokenized]:
    """Prompts of several lengths, each with candidates of one to six tokens, shuffled together."""
    rng = random.Random(seed)
    batch = []
    for _ in range(5):
        prompt = tuple(rng.randrange(1, 97) for _ in range(rng.randrange(3, 60)))
        for _ in range(rng.randrange(1, 12)):
            batch.append(Tokenized(prompt, tuple(rng.randrange(1, 97) for _ in range(rng.randrange(1, 7)))))
    rng.shuffle(batch)
    return batch


@pytest.mark.parametrize("chunk", [16, 3, 1])
def test_shared_prompt_scoring_equals_one_full_pass_per_candidate(tiny_model: object, chunk: int) -> None:
    batch = requests(seed=chunk)
    backend = HFForward(model=tiny_model, identity="tiny", chunk=chunk)
    shared = asyncio.run(backend.logprobs(batch))
    assert shared == pytest.approx(one_pass_each(tiny_model, batch), abs=1e-4)
    assert backend.prompt_tokens == sum(len(p) for p in {t.prompt for t in batch})  # each prompt computed once


def test_single_token_candidates_need_only_the_prompts_pass(tiny_model: object) -> None:
    prompt = (5, 6, 7, 8)
    batch = [Tokenized(prompt, (token,)) for token in range(1, 40)]
    backend = HFForward(model=tiny_model, identity="tiny")
    assert asyncio.run(backend.logprobs(batch)) == pytest.approx(one_pass_each(tiny_model, batch), abs=1e-4)
    assert backend.requests == 1  # the prompt's own pass predicts every candidate


def test_single_token_requests_name_at_most_the_limit_and_never_split_a_prompt() -> None:
    batch = [Tokenized((p,), (p * 10 + k,)) for p in range(1, 8) for k in range(4)]
    chunks = _token_chunks(batch, list(range(len(batch))), limit=9)
    assert sorted(i for c in chunks for i in c) == list(range(len(batch)))
    for chunk in chunks:
        assert len({batch[i].continuation[0] for i in chunk}) <= 9
        assert {batch[i].prompt for i in chunk} == {batch[i].prompt for i in chunk if i // 4 == chunk[0] // 4} | {
            batch[i].prompt for i in chunk
        }
    assert [len(c) for c in chunks] == [8, 8, 8, 4]  # two prompts (8 tokens) per chunk: a third would make 12
