"""Where log-probabilities come from: a vLLM server, or local weights."""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import httpx

from prosaic_evals._errors import UserError
from prosaic_evals.likelihood._types import Tokenized
from prosaic_evals.models._retry import send_with_retries
from prosaic_evals.models._vllm_prefix import FLAG, READ, TAIL
from prosaic_evals.models._vllm_server import VLLMServer

REQUEST_TIMEOUT = 600
"""Seconds one attempt may take: a large batch of long prompts on a CPU server is slow, not dead."""


MAX_TOKEN_IDS = 128
"""Most candidate tokens asked for in one single-token request (vLLM 0.32's MAX_LOGPROB_TOKEN_IDS)."""


class VLLMCompletions:
    """Log-probabilities from vLLM's `/v1/completions`, computing each prompt as few times as the server allows.

    - Candidates of one token: one generation step after the prompt, with `logprob_token_ids`
      naming the candidates (the prompt runs once for all of them; many prompts per request).
    - Anything else: prompt log-probabilities (`echo`), many prompts per request. On a server we manage
      these read vLLM's prefix cache and compute log-probabilities for the candidates' tokens only (see
      `prosaic_evals.models._vllm_prefix`), so candidates of one prompt, in the same request or not,
      compute its whole blocks once; a token not computed comes back marked, and a candidate with a
      marked token of its own is asked again without the cache.
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
        """Whether to read the prefix cache: only on servers we start (they load the plugin)."""
        self.token_ids = True
        """Whether the server takes `logprob_token_ids` (vLLM before 0.32 does not: then every candidate is echoed)."""
        self.requests = 0
        self.cached_tokens = 0
        """Prompt tokens the server read from its prefix cache instead of computing them."""
        self.skipped_tokens = 0
        """Prompt tokens the server ran without computing their log-probabilities (before a candidate)."""

    async def logprobs(self, batch: Sequence[Tokenized]) -> list[float]:
        out = [0.0] * len(batch)
        single: list[int] = []
        rest: list[int] = []
        for rows in _by_prompt(batch).values():
            if len(rows) > 1 and self.token_ids and all(len(batch[i].continuation) == 1 for i in rows):
                single += rows
            else:
                rest += rows

        async def fill(rows: list[int], scorer: Callable[[list[Tokenized]], Awaitable[list[float]]]) -> None:
            for i, value in zip(rows, await scorer([batch[i] for i in rows]), strict=True):
                out[i] = value

        async with anyio.create_task_group() as group:
            for chunk in _token_chunks(batch, single):
                group.start_soon(fill, chunk, self._next_token)
            if rest:
                group.start_soon(fill, rest, self._echo)
        return out

    async def _echo(self, batch: list[Tokenized]) -> list[float]:
        if not self.read_cache:
            return await self._echo_uncached(batch)
        body = _echo_body(self.model, [t.prompt + t.continuation for t in batch])
        # logits for the longest candidate's tokens only (one tail per request; per length was no faster)
        tail = max(len(t.continuation) for t in batch)
        choices = await self._choices({**body, "vllm_xargs": {FLAG: 1, TAIL: tail}})
        spans: list[list[float | None]] = []
        known: dict[tuple[tuple[int, ...], tuple[int, ...]], float] = {}
        """(prompt, candidate prefix) -> the log-probability of the prefix's last token, where computed."""
        for choice, tokens in zip(choices, batch, strict=True):
            logprobs = _logprobs(choice, tokens)
            self.cached_tokens += sum(1 for v in logprobs if v == READ)
            self.skipped_tokens += sum(1 for v in logprobs if _marked(v) and v != READ)
            spans.append(logprobs[len(tokens.prompt) :])
            for j, value in enumerate(spans[-1]):
                if value is not None and not _marked(value):
                    known[tokens.prompt, tokens.continuation[: j + 1]] = value
        # A candidate's own token read from the cache: another candidate of its prompt began the same way
        # and filled that block. It has the same value as there; failing that, ask again without the cache.
        out = [0.0] * len(batch)
        again: list[int] = []
        for i, (tokens, span) in enumerate(zip(batch, spans, strict=True)):
            values = [known.get((tokens.prompt, tokens.continuation[: j + 1])) for j in range(len(span))]
            if None in values:
                again.append(i)
            else:
                out[i] = float(sum(values))  # type: ignore[arg-type]
        if again:
            for i, value in zip(again, await self._echo_uncached([batch[i] for i in again]), strict=True):
                out[i] = value
        return out

    async def _echo_uncached(self, batch: list[Tokenized]) -> list[float]:
        choices = await self._choices(_echo_body(self.model, [t.prompt + t.continuation for t in batch]))
        return [_continuation_sum(choice, t) for choice, t in zip(choices, batch, strict=True)]

    async def _choices(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return sorted((await self._post(body))["choices"], key=lambda c: c["index"])

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


def _logprobs(choice: dict[str, Any], tokens: Tokenized) -> list[float | None]:
    """The prompt log-probabilities of one echoed sequence, checked for length."""
    logprobs = (choice.get("logprobs") or {}).get("token_logprobs") or []
    n = len(tokens.prompt) + len(tokens.continuation)
    if len(logprobs) < n:
        raise UserError(
            "the server returned fewer prompt log-probabilities than prompt tokens (was the prompt truncated?)"
        )
    return list(logprobs[:n])


def _marked(value: float | None) -> bool:
    """Whether the plugin marked a prompt position as not computed (read from the cache, or skipped)."""
    return value is not None and value > 0


def _continuation_sum(choice: dict[str, Any], tokens: Tokenized) -> float:
    return float(sum(_logprobs(choice, tokens)[len(tokens.prompt) :]))  # type: ignore[arg-type]


class HFForward:
    """Log-probabilities from local transformers weights.

    Each distinct prompt runs once; its key/value cache then serves all its candidates, `chunk` at a
    time in one sequence (K candidates cost one prompt plus their own tokens, not K prompts)."""

    def __init__(self, *, model: Any, identity: str, chunk: int = 16) -> None:
        self.model = model
        self.identity = identity
        self.chunk = chunk
        self.requests = 0
        """Forward passes run."""
        self.prompt_tokens = 0
        """Prompt tokens run through the model (each distinct prompt's once)."""
        self.keeps_logits = "logits_to_keep" in inspect.signature(model.forward).parameters
        """Whether the model can compute the logits of the last position only."""

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
            last = {"logits_to_keep": 1} if self.keeps_logits else {}  # only the last position's are needed
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

    def _rest(self, prompt: tuple[int, ...], prompt_cache: Any, continuations: list[tuple[int, ...]]) -> list[float]:
        """log P(tokens 2..n | prompt, token 1) of each candidate, in one pass of batch size 1: the candidates'
        tokens one after another after the prompt's cache, each at its own positions and attending (a 4D
        mask) to the prompt and its own earlier tokens. The prompt's cache is never copied, only cropped back."""
        import torch

        parameter = next(self.model.parameters())
        fed = [c[:-1] for c in continuations]  # the last token is predicted, never fed
        starts = [sum(len(f) for f in fed[:row]) for row in range(len(fed))]
        p, n = len(prompt), sum(len(f) for f in fed)
        allowed = torch.zeros((n, p + n), dtype=torch.bool)
        allowed[:, :p] = True
        for start, tokens in zip(starts, fed, strict=True):
            size = len(tokens)
            allowed[start : start + size, p + start : p + start + size] = torch.ones(size, size).tril().bool()
        mask = torch.zeros((1, 1, n, p + n), dtype=parameter.dtype).masked_fill(
            ~allowed, torch.finfo(parameter.dtype).min
        )
        ids = torch.tensor([[t for tokens in fed for t in tokens]])
        positions = torch.tensor([[p + j for tokens in fed for j in range(len(tokens))]])
        self.requests += 1
        try:
            logits = self.model(
                input_ids=ids.to(parameter.device), attention_mask=mask.to(parameter.device),
                position_ids=positions.to(parameter.device), past_key_values=prompt_cache,
            ).logits  # fmt: skip
        finally:
            prompt_cache.crop(p)
        logp = torch.log_softmax(logits[0].float(), dim=-1)
        # a candidate's position j (its token j + 1) predicts its token j + 2
        return [
            float(logp[start + torch.arange(len(c) - 1), torch.tensor(c[1:])].sum())
            for start, c in zip(starts, continuations, strict=True)
        ]
