"""Where log-probabilities come from: a vLLM server, or local weights."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import httpx

from prosaic_evals._errors import UserError
from prosaic_evals.likelihood._types import Tokenized
from prosaic_evals.models._retry import send_with_retries
from prosaic_evals.models._vllm_prefix import FLAG
from prosaic_evals.models._vllm_server import VLLMServer

REQUEST_TIMEOUT = 600
"""Seconds one attempt may take: a large batch of long prompts on a CPU server is slow, not dead."""


SHARED_PROMPT_TOKENS = 64
"""Shortest prompt whose candidates are sent one per request to read it from vLLM's prefix cache (whole
blocks only: 32 tokens on servers managed here on CPU, 16 by default on GPU builds); shorter prompts
gain less than they lose by leaving a batch of many prompts per request."""

MAX_TOKEN_IDS = 128
"""Most candidate tokens asked for in one single-token request (vLLM 0.32's MAX_LOGPROB_TOKEN_IDS)."""


class VLLMCompletions:
    """Log-probabilities from vLLM's `/v1/completions`, computing each prompt as few times as the server allows.

    - Candidates of one token: one generation step after the prompt, with `logprob_token_ids`
      naming the candidates (the prompt runs once for all of them; many prompts per request).
    - Longer candidates of a long prompt on a server we manage: one request per candidate that reads
      the prefix cache (see `prosaic_evals.models._vllm_prefix`); the first candidate fills the cache.
    - Anything else: prompt log-probabilities (`echo`), many prompts per request.
    """

    def __init__(
        self, *, base_url: str, api_key: str | None, model: str, identity: str, server: VLLMServer | None = None
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/completions"
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model
        self.identity = identity
        self.server = server
        self.read_cache = server is not None
        """Whether to read the prefix cache: only on servers we start (with the plugin, reporting cached tokens)."""
        self.token_ids = True
        """Whether the server takes `logprob_token_ids` (vLLM before 0.32 does not: then every candidate is echoed)."""
        self.requests = 0
        self.cached_tokens = 0
        """Prompt tokens the server read from its prefix cache instead of computing them."""

    async def logprobs(self, batch: Sequence[Tokenized]) -> list[float]:
        out = [0.0] * len(batch)
        single: list[int] = []
        shared: list[list[int]] = []
        rest: list[int] = []
        for rows in _by_prompt(batch).values():
            prompt = batch[rows[0]].prompt
            if len(rows) > 1 and self.token_ids and all(len(batch[i].continuation) == 1 for i in rows):
                single += rows
            elif len(rows) > 1 and self.read_cache and len(prompt) >= SHARED_PROMPT_TOKENS:
                shared.append(rows)
            else:
                rest += rows

        async def fill(rows: list[int], scorer: Callable[[list[Tokenized]], Awaitable[list[float]]]) -> None:
            for i, value in zip(rows, await scorer([batch[i] for i in rows]), strict=True):
                out[i] = value

        async with anyio.create_task_group() as group:
            for chunk in _token_chunks(batch, single):
                group.start_soon(fill, chunk, self._next_token)
            for rows in shared:
                group.start_soon(fill, rows, self._from_prefix_cache)
            if rest:
                group.start_soon(fill, rest, self._echo)
        return out

    async def _echo(self, batch: list[Tokenized]) -> list[float]:
        response = await self._post(_echo_body(self.model, [t.prompt + t.continuation for t in batch]))
        choices = sorted(response["choices"], key=lambda c: c["index"])
        return [_continuation_sum(choice, t) for choice, t in zip(choices, batch, strict=True)]

    async def _next_token(self, batch: list[Tokenized]) -> list[float]:
        """One-token candidates: the log-probability of each as the token generated after its prompt."""
        prompts = list(dict.fromkeys(t.prompt for t in batch))
        body = {
            "model": self.model,
            "prompt": [list(p) for p in prompts],
            "max_tokens": 1,
            "temperature": 0,
            "logprobs": 1,
            "logprob_token_ids": sorted({t.continuation[0] for t in batch}),
            "return_tokens_as_token_ids": True,
        }
        try:
            response = await self._post(body)
            tables = {prompts[c["index"]]: ((c.get("logprobs") or {}).get("top_logprobs") or [{}])[0]
                      for c in response["choices"]}  # fmt: skip
            return [float(tables[t.prompt][f"token_id:{t.continuation[0]}"]) for t in batch]
        except (UserError, KeyError, TypeError):  # refused, or the field ignored: a server without it
            self.token_ids = False
            return await self._echo(batch)

    async def _from_prefix_cache(self, batch: list[Tokenized]) -> list[float]:
        """Candidates of one long prompt, one per request: the first computes the prompt, the others read it
        from the cache (see `_one`)."""
        known: dict[tuple[int, ...], float] = {}
        first = await self._one(batch[0], known)
        rest = [0.0] * (len(batch) - 1)

        async def one(i: int) -> None:
            rest[i] = await self._one(batch[i + 1], known)

        async with anyio.create_task_group() as group:
            for i in range(len(rest)):
                group.start_soon(one, i)
        return [first, *rest]

    async def _one(self, tokens: Tokenized, known: dict[tuple[int, ...], float]) -> float:
        """One candidate, reading the prefix cache. The server computes no log-probability for a token it
        read from the cache: token i is computed only when i > cached_tokens. A candidate's own first
        tokens are cached when an earlier candidate began with the same tokens (`lambda x: ...`); their
        values are then that candidate's (`known`: candidate prefix -> its last token's log-probability).
        Anything else missing is asked again without the cache."""
        body = _echo_body(self.model, [tokens.prompt + tokens.continuation])
        response = await self._post({**body, "vllm_xargs": {FLAG: 1}})
        cached = ((response.get("usage") or {}).get("prompt_tokens_details") or {}).get("cached_tokens")
        if cached is None:  # the server does not say what it read from the cache: stop asking it to
            self.read_cache = False
            return _continuation_sum((await self._post(body))["choices"][0], tokens)
        self.cached_tokens += cached
        _continuation_sum(response["choices"][0], tokens)  # checks the length
        computed = response["choices"][0]["logprobs"]["token_logprobs"]
        values: list[float] = []
        for j in range(len(tokens.continuation)):
            i, prefix = len(tokens.prompt) + j, tokens.continuation[: j + 1]
            if i > cached:
                values.append(float(computed[i]))
            elif prefix in known:
                values.append(known[prefix])
            else:
                return _continuation_sum((await self._post(body))["choices"][0], tokens)
        for j, value in enumerate(values):
            known.setdefault(tokens.continuation[: j + 1], value)
        return sum(values)

    async def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        async def send() -> httpx.Response:
            self.requests += 1
            return await _client().post(self.url, json=body, headers=self.headers)

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


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def _client() -> httpx.AsyncClient:
    """One connection pool per event loop (inspect runs each evaluation in its own loop)."""
    loop = asyncio.get_running_loop()
    if loop not in _clients:
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        _clients[loop] = httpx.AsyncClient(timeout=REQUEST_TIMEOUT, limits=limits)
    return _clients[loop]


def _echo_body(model: str, sequences: list[tuple[int, ...]]) -> dict[str, Any]:
    return {
        "model": model,
        "prompt": [list(s) for s in sequences],
        "max_tokens": 0,
        "echo": True,
        "logprobs": 0,
        "temperature": 0,
    }


def _by_prompt(batch: Sequence[Tokenized]) -> dict[tuple[int, ...], list[int]]:
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, tokens in enumerate(batch):
        groups.setdefault(tokens.prompt, []).append(i)
    return groups


def _token_chunks(batch: Sequence[Tokenized], rows: list[int], limit: int = MAX_TOKEN_IDS) -> list[list[int]]:
    """`rows` in chunks that name at most `limit` candidate tokens (a prompt's candidates stay together)."""
    chunks: list[list[int]] = []
    tokens: set[int] = set()
    for group in _by_prompt([batch[i] for i in rows]).values():
        ids = {batch[rows[j]].continuation[0] for j in group}
        if chunks and len(tokens | ids) > limit:
            chunks.append([])
            tokens = set()
        if not chunks:
            chunks.append([])
        chunks[-1] += [rows[j] for j in group]
        tokens |= ids
    return chunks


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
    """Log-probabilities from local transformers weights.

    Each distinct prompt runs once; its key/value cache then serves all its candidates, `chunk` at a
    time (K candidates cost one prompt plus their own tokens, not K prompts)."""

    def __init__(self, *, model: Any, pad_token_id: int, identity: str, chunk: int = 16) -> None:
        self.model = model
        self.pad_token_id = pad_token_id
        self.identity = identity
        self.chunk = chunk
        self.requests = 0
        """Forward passes run."""
        self.prompt_tokens = 0
        """Prompt tokens run through the model (each distinct prompt's once)."""

    async def logprobs(self, batch: Sequence[Tokenized]) -> list[float]:
        return await anyio.to_thread.run_sync(self._forward, list(batch))

    def _forward(self, batch: list[Tokenized]) -> list[float]:
        out = [0.0] * len(batch)
        for prompt, rows in _by_prompt(batch).items():
            for i, value in zip(rows, self._candidates(prompt, [batch[i].continuation for i in rows]), strict=True):
                out[i] = value
        return out

    def _candidates(self, prompt: tuple[int, ...], continuations: list[tuple[int, ...]]) -> list[float]:
        import torch

        device = next(self.model.parameters()).device
        with torch.no_grad():
            self.requests += 1
            self.prompt_tokens += len(prompt)
            last = {"logits_to_keep": 1} if self._keeps_logits() else {}  # only the last position's are needed
            head = self.model(input_ids=torch.tensor([prompt], device=device), use_cache=True, **last)
            first = torch.log_softmax(head.logits[0, -1].float(), dim=-1)  # predicts every candidate's first token
            out = [float(first[c[0]]) for c in continuations]
            longer = [row for row, c in enumerate(continuations) if len(c) > 1]
            for start in range(0, len(longer), self.chunk):
                rows = longer[start : start + self.chunk]
                rest = self._rest(prompt, head.past_key_values, [continuations[r] for r in rows])
                for row, value in zip(rows, rest, strict=True):
                    out[row] += value
        return out

    def _keeps_logits(self) -> bool:
        import inspect

        return "logits_to_keep" in inspect.signature(self.model.forward).parameters

    def _rest(self, prompt: tuple[int, ...], prompt_cache: Any, continuations: list[tuple[int, ...]]) -> list[float]:
        """log P(tokens 2..n | prompt, token 1) of each candidate, from a copy of the prompt's cache."""
        import copy

        import torch

        device = next(self.model.parameters()).device
        width = max(len(c) for c in continuations) - 1  # the last token is predicted, never fed
        ids = torch.full((len(continuations), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(continuations), len(prompt) + width), dtype=torch.long)
        mask[:, : len(prompt)] = 1
        for row, c in enumerate(continuations):  # right padding keeps positions aligned
            ids[row, : len(c) - 1] = torch.tensor(c[:-1])
            mask[row, len(prompt) : len(prompt) + len(c) - 1] = 1
        cache = copy.deepcopy(prompt_cache)
        cache.batch_repeat_interleave(len(continuations))
        self.requests += 1
        logits = self.model(input_ids=ids.to(device), attention_mask=mask.to(device), past_key_values=cache).logits
        logp = torch.log_softmax(logits.float(), dim=-1)
        # position j of a candidate's pass (its token j + 1) predicts its token j + 2
        return [
            float(logp[row, torch.arange(len(c) - 1), torch.tensor(c[1:])].sum()) for row, c in enumerate(continuations)
        ]
