"""Where log-probabilities come from: a vLLM server, or local weights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import httpx

from prosaic_evals._errors import UserError
from prosaic_evals.likelihood._types import Tokenized
from prosaic_evals.models._retry import send_with_retries
from prosaic_evals.models._vllm_server import VLLMServer

REQUEST_TIMEOUT = 600
"""Seconds one attempt may take: a large batch of long prompts on a CPU server is slow, not dead."""


class VLLMCompletions:
    """Prompt log-probabilities from `/v1/completions` with `echo` (many prompts per request)."""

    def __init__(
        self, *, base_url: str, api_key: str | None, model: str, identity: str, server: VLLMServer | None = None
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/completions"
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model
        self.identity = identity
        self.server = server
        self.requests = 0

    async def logprobs(self, batch: Sequence[Tokenized]) -> list[float]:
        body = {
            "model": self.model,
            "prompt": [list(t.prompt + t.continuation) for t in batch],
            "max_tokens": 0,
            "echo": True,
            "logprobs": 0,
            "temperature": 0,
        }
        response = await self._post(body)
        choices = sorted(response["choices"], key=lambda c: c["index"])
        return [_continuation_sum(choice, t) for choice, t in zip(choices, batch, strict=True)]

    async def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as client:
                self.requests += 1
                return await client.post(self.url, json=body, headers=self.headers)

        async def recover() -> None:  # a managed server may have died: restart it
            if self.server is not None:
                await anyio.to_thread.run_sync(self.server.ensure_alive)

        response = await send_with_retries(send, what=f"likelihood request to {self.url}", on_connection_error=recover)
        if response.status_code != 200:  # not a transient failure: this server cannot do it
            raise UserError(
                f"{self.url} gave no prompt log-probabilities (HTTP {response.status_code}: "
                f"{response.text.strip()[:200]}); likelihood scoring needs a vLLM server or local weights"
            )
        try:
            return dict(response.json())
        except ValueError:
            raise UserError(f"{self.url} answered with something that is not JSON (HTTP 200)") from None


def _continuation_sum(choice: dict[str, Any], tokens: Tokenized) -> float:
    logprobs = (choice.get("logprobs") or {}).get("token_logprobs") or []
    n = len(tokens.continuation)
    if len(logprobs) < len(tokens.prompt) + n:
        raise UserError(
            "the server returned fewer prompt log-probabilities than prompt tokens (was the prompt truncated?)"
        )
    span = logprobs[len(tokens.prompt) : len(tokens.prompt) + n]
    return float(sum(span))


class HFForward:
    """Prompt log-probabilities from a forward pass over local transformers weights."""

    def __init__(self, *, model: Any, pad_token_id: int, identity: str, chunk: int = 16) -> None:
        self.model = model
        self.pad_token_id = pad_token_id
        self.identity = identity
        self.chunk = chunk
        self.requests = 0

    async def logprobs(self, batch: Sequence[Tokenized]) -> list[float]:
        return await anyio.to_thread.run_sync(self._forward, list(batch))

    def _forward(self, batch: list[Tokenized]) -> list[float]:
        # candidates of one prompt share its forward pass: the prompt runs once, its key/value cache then
        # serves every candidate (K candidates cost about one prompt plus K short continuations)
        out = [0.0] * len(batch)
        by_prompt: dict[tuple[int, ...], list[int]] = {}
        for i, tokens in enumerate(batch):
            by_prompt.setdefault(tokens.prompt, []).append(i)
        for prompt, rows in by_prompt.items():
            for start in range(0, len(rows), self.chunk):
                self.requests += 1
                chunk = rows[start : start + self.chunk]
                for i, value in zip(
                    chunk, self._candidates(prompt, [batch[i].continuation for i in chunk]), strict=True
                ):
                    out[i] = value
        return out

    def _candidates(self, prompt: tuple[int, ...], continuations: list[tuple[int, ...]]) -> list[float]:
        import torch

        device = next(self.model.parameters()).device
        with torch.no_grad():
            head = self.model(input_ids=torch.tensor([prompt], device=device), use_cache=True)
            first = torch.log_softmax(head.logits[0, -1].float(), dim=-1)  # predicts each candidate's first token
            width = max(len(c) for c in continuations)
            if width == 1:
                return [float(first[c[0]]) for c in continuations]
            ids = torch.full((len(continuations), width), self.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(continuations), len(prompt) + width), dtype=torch.long)
            mask[:, : len(prompt)] = 1
            for row, c in enumerate(continuations):  # right padding keeps positions aligned
                ids[row, : len(c)] = torch.tensor(c)
                mask[row, len(prompt) : len(prompt) + len(c)] = 1
            cache = head.past_key_values
            cache.batch_repeat_interleave(len(continuations))
            tail = self.model(input_ids=ids.to(device), attention_mask=mask.to(device), past_key_values=cache)
            logp = torch.log_softmax(tail.logits[:, :-1].float(), dim=-1).gather(-1, ids[:, 1:, None].to(device))[
                ..., 0
            ]
        # token j > 0 of a candidate is predicted at position j - 1 of its own forward pass
        return [float(first[c[0]]) + float(logp[row, : len(c) - 1].sum()) for row, c in enumerate(continuations)]
