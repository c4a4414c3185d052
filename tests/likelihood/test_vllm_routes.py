"""The vLLM backend's routes on a server that lacks `logprob_token_ids` (vLLM before 0.32, or a server
given by URL): one-token candidates fall back to prompt log-probabilities, with the same values.

A stand-in for such a server (httpx's MockTransport): the real server of this project has the field;
tests/likelihood/test_engine.py checks both routes against it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from prosaic_evals.likelihood import _backends
from prosaic_evals.likelihood._backends import VLLMCompletions
from prosaic_evals.likelihood._types import Tokenized


def echoed(sequence: list[int]) -> list[float | None]:
    """The stand-in's prompt log-probability of each token (none for the first)."""
    return [None, *(-0.1 * token for token in sequence[1:])]


def old_server(refuse: bool) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if "logprob_token_ids" in body:
            if refuse:
                return httpx.Response(400, json={"error": {"message": "unknown field logprob_token_ids"}})
            choices = [{"index": i, "logprobs": {"top_logprobs": [{"token_id:7": -0.5}]}}  # the sampled token only
                       for i in range(len(body["prompt"]))]  # fmt: skip
            return httpx.Response(200, json={"choices": choices})
        choices = [{"index": i, "logprobs": {"token_logprobs": echoed(p)}} for i, p in enumerate(body["prompt"])]
        return httpx.Response(200, json={"choices": choices})

    return httpx.MockTransport(handle)


@pytest.mark.parametrize("refuse", [True, False], ids=["refused", "ignored"])
def test_one_token_candidates_fall_back_to_prompt_logprobs(refuse: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    transport = old_server(refuse)
    monkeypatch.setattr(_backends, "_client", lambda: httpx.AsyncClient(transport=transport))
    backend = VLLMCompletions(base_url="http://127.0.0.1:9/v1", api_key=None, model="m", identity="m")
    batch = [Tokenized((1, 2, 3), (token,)) for token in (4, 5, 6)] + [Tokenized((9, 8), (3, 2))]
    scores: list[Any] = asyncio.run(backend.logprobs(batch))
    assert scores == pytest.approx([-0.4, -0.5, -0.6, -0.5])  # each continuation's echoed log-probabilities
    assert backend.token_ids is False  # later batches go straight to prompt log-probabilities
    requests = backend.requests
    asyncio.run(backend.logprobs(batch[:3]))
    assert backend.requests == requests + 1
