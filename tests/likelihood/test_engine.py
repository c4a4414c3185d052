"""Log-probabilities from the real embedded model: vLLM and local weights must agree."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from prosaic_evals._errors import UserError
from prosaic_evals.likelihood import LogprobRequest, engine_for, unsupported_reason

pytestmark = pytest.mark.slow

QUESTION = (("user", "What is the capital of France?"),)
REQUESTS = [
    LogprobRequest(QUESTION, "The capital of France is Paris."),
    LogprobRequest(QUESTION, "The capital of France is Berlin."),
    LogprobRequest(
        (("user", "Daphne Barrington, known far and wide for being"),), "the director of 'A Journey Through Time'"
    ),
]


def score(model: Any, requests: list[LogprobRequest]) -> list[Any]:
    return asyncio.run(engine_for(model.api).score(requests))


def test_vllm_and_local_weights_give_the_same_logprobs(local_model: Any, hf_model: Any) -> None:
    served = score(local_model, REQUESTS)
    local = score(hf_model, REQUESTS)
    for a, b in zip(served, local, strict=True):
        assert a.n_tokens == b.n_tokens > 0
        assert a.logprob == pytest.approx(b.logprob, abs=0.05)
    assert served[0].logprob > served[1].logprob  # Paris beats Berlin


def test_local_tokenization_matches_the_servers(local_model: Any, server: Any) -> None:
    import httpx

    engine = engine_for(local_model.api)
    tokens = asyncio.run(engine.tokenizer.encode(REQUESTS[0]))
    response = httpx.post(
        f"{server.root_url}/tokenize",
        json={"model": local_model.api.service_model_name(), "messages": [{"role": "user", "content": QUESTION[0][1]}],
              "add_generation_prompt": True},
        headers={"Authorization": f"Bearer {server.api_key}"},
    )  # fmt: skip
    assert list(tokens.prompt) == response.json()["tokens"]


def test_a_second_request_is_served_from_the_cache(local_model: Any) -> None:
    engine = engine_for(local_model.api)  # shared by the session: use requests no test made before
    fresh = [LogprobRequest(((role, f"{text} ({uuid.uuid4()})"),), c) for (role, text), c in
             [(QUESTION[0], "Paris."), (QUESTION[0], "Lyon.")]]  # fmt: skip
    before = engine.backend.requests
    first = asyncio.run(engine.score(fresh))
    assert engine.backend.requests == before + 1  # two continuations, one request
    again = asyncio.run(engine.score(fresh))
    assert engine.backend.requests == before + 1
    assert [r.cached for r in first] == [False, False] and [r.cached for r in again] == [True, True]
    assert [r.logprob for r in first] == [r.logprob for r in again]


def test_a_shared_model_uses_the_cache_of_the_current_home_or_none(
    local_model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One model object serves many runs in a process: each run's engine reads and fills its own cache."""
    first = engine_for(local_model.api)
    assert engine_for(local_model.api) is first and engine_for(local_model.api, cache=False).cache is None
    monkeypatch.setenv("PROSAIC_EVALS_HOME", str(tmp_path / "another-home"))
    other = engine_for(local_model.api)
    assert other is not first and other.cache is not None and first.cache is not None
    assert other.cache.path == tmp_path / "another-home" / "cache" / "logprobs.sqlite" != first.cache.path


def test_providers_without_logprobs_are_refused_clearly() -> None:
    from inspect_ai.model import get_model

    claude = get_model("anthropic/claude-sonnet-4-5", api_key="not-used")
    reason = unsupported_reason(claude.api)
    assert reason is not None and "Anthropic" in reason and "hf/<model>" in reason
    with pytest.raises(UserError, match="likelihood scoring needs prompt log-probabilities"):
        engine_for(claude.api)


def long_prompt() -> tuple[tuple[str, str], ...]:
    """A prompt of several hundred tokens (a dozen of the server's 32-token cache blocks), new to the server."""
    documents = "\n".join(f"Document {i}: print(f_{i % 7}({i})) outputs {3 * i + 2}." for i in range(30))
    return (("user", f"{documents}\nRun {uuid.uuid4()}: write f_3 as a Python lambda."),)


def test_candidates_of_a_long_prompt_read_its_prefix_cache_compute_only_their_own_logprobs_and_keep_them(
    local_model: Any,
) -> None:
    engine = engine_for(local_model.api, cache=False)
    backend = engine.backend
    question = long_prompt()
    candidates = [f"lambda x: {a} * x + {b}" for a in (1, 2, 3) for b in (0, 2)]
    tokens = [asyncio.run(engine.tokenizer.encode(LogprobRequest(question, c))) for c in candidates]
    prompt = tokens[0].prompt
    assert len(prompt) >= 12 * 32 and len({t.continuation for t in tokens}) == 6
    cached_before, requests_before = backend.cached_tokens, backend.requests  # type: ignore[attr-defined]
    skipped_before = backend.skipped_tokens  # type: ignore[attr-defined]
    shared = asyncio.run(backend.logprobs(tokens))
    # one request; the first candidate computes the prompt, the five others read its whole blocks from the cache
    assert backend.requests - requests_before == 1  # type: ignore[attr-defined]
    assert backend.cached_tokens - cached_before >= 5 * (len(prompt) // 32) * 32  # type: ignore[attr-defined]
    # and no prompt position before the candidates went through the output layer (the first candidate's whole
    # prompt, then the part of every other's last block that the cache does not hold)
    longest = max(len(t.continuation) for t in tokens)
    assert backend.skipped_tokens - skipped_before >= len(prompt) - longest  # type: ignore[attr-defined]
    recomputed = asyncio.run(backend._echo_uncached(tokens))  # type: ignore[attr-defined]  # every token computed
    assert shared == pytest.approx(recomputed, abs=1e-3)


def test_candidates_whose_own_tokens_came_from_the_cache_take_them_from_their_batch_or_ask_again(
    local_model: Any,
) -> None:
    """Candidates share their first 10 tokens after a 60-token prompt: the block of positions 32-63 holds 4
    of them. In one batch, the others read those from the cache and take their values from the candidate
    that computed them; a later candidate alone has no such values and is asked again without the cache."""
    import random

    from prosaic_evals.likelihood._types import Tokenized

    backend = engine_for(local_model.api, cache=False).backend
    rng = random.Random(uuid.uuid4().int)  # a prompt new to the server
    prompt, shared = (
        tuple(rng.randrange(1000, 20000) for _ in range(60)),
        [rng.randrange(1000, 20000) for _ in range(10)],
    )
    tokens = [Tokenized(prompt, (*shared, last)) for last in (400, 500, 600)]
    requests_before, cached_before = backend.requests, backend.cached_tokens  # type: ignore[attr-defined]
    scored = asyncio.run(backend.logprobs(tokens[:2]))
    assert backend.requests - requests_before == 1  # type: ignore[attr-defined]
    assert backend.cached_tokens - cached_before >= 64  # type: ignore[attr-defined]  # the second read two blocks
    scored += asyncio.run(backend.logprobs(tokens[2:]))
    assert backend.requests - requests_before == 3  # type: ignore[attr-defined]  # the third asked again
    assert scored == pytest.approx(asyncio.run(backend._echo_uncached(tokens)), abs=1e-3)  # type: ignore[attr-defined]


def test_one_token_candidates_are_scored_in_one_generation_step(local_model: Any) -> None:
    engine = engine_for(local_model.api, cache=False)
    words = ["Paris", "London", "Rome", "Yes", "No", "The"]
    questions = [(("user", f"In which city was person {uuid.uuid4()} born? One word."),) for _ in range(3)]
    tokens = [asyncio.run(engine.tokenizer.encode(LogprobRequest(q, w))) for q in questions for w in words]
    assert {len(t.continuation) for t in tokens} == {1}
    before = engine.backend.requests  # type: ignore[attr-defined]
    scored = asyncio.run(engine.backend.logprobs(tokens))
    assert engine.backend.requests == before + 1  # type: ignore[attr-defined]  # 3 prompts x 6 words, one request
    assert scored == pytest.approx(asyncio.run(engine.backend._echo_uncached(tokens)), abs=1e-3)  # type: ignore[attr-defined]
