"""Continuation scoring for the model under evaluation: tokenize, cache, batch, score."""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prosaic_evals._errors import UserError
from prosaic_evals.likelihood._backends import HFForward, VLLMCompletions
from prosaic_evals.likelihood._batcher import MicroBatcher
from prosaic_evals.likelihood._cache import LogprobCache
from prosaic_evals.likelihood._tokenize import LocalTokenizer, RemoteTokenizer
from prosaic_evals.likelihood._types import LogprobBackend, LogprobRequest, LogprobResult, Tokenized, Tokenizer

UNSUPPORTED = (
    "likelihood scoring needs prompt log-probabilities, which {provider} does not give; "
    "use a vLLM server (local, vllm/<model>, or a server URL) or local weights (hf/<model>)"
)


MEMO_SIZE = 1 << 16
"""Log-probabilities an engine keeps in memory (about 10 MB): a candidate's prior, the same for every
item, is computed once per run even with the on-disk cache off."""


class LikelihoodEngine:
    """Each distinct sequence is computed once: read from the on-disk cache, from this engine's memory, or
    from a request already in flight for another caller; only what is left goes to the backend."""

    def __init__(self, backend: LogprobBackend, tokenizer: Tokenizer, cache: LogprobCache | None) -> None:
        self.backend = backend
        self.tokenizer = tokenizer
        self.cache = cache
        self.batcher: MicroBatcher[Tokenized, float] = MicroBatcher(backend.logprobs)
        self._memo: OrderedDict[str, float] = OrderedDict()
        self._in_flight: dict[str, asyncio.Future[float]] = {}

    async def score(self, requests: Sequence[LogprobRequest]) -> list[LogprobResult]:
        tokens = [await self.tokenizer.encode(r) for r in requests]
        keys = [LogprobCache.key(self.backend.identity, t) for t in tokens]
        stored = self.cache.get_many(list(dict.fromkeys(keys))) if self.cache else {}
        values = await self._compute({k: t for k, t in zip(keys, tokens, strict=True) if k not in stored})
        return [
            LogprobResult(logprob=stored[key] if key in stored else values[key], n_tokens=len(t.continuation),
                          cached=key in stored)
            for key, t in zip(keys, tokens, strict=True)
        ]  # fmt: skip

    async def _compute(self, wanted: dict[str, Tokenized]) -> dict[str, float]:
        loop = asyncio.get_running_loop()
        values = {k: self._memo[k] for k in wanted if k in self._memo}
        theirs = {k: f for k in wanted if k not in values and (f := self._in_flight.get(k)) and f.get_loop() is loop}
        mine = {k: loop.create_future() for k in wanted if k not in values and k not in theirs}
        self._in_flight.update(mine)
        try:
            fresh = await self.batcher.submit([wanted[k] for k in mine])
        except asyncio.CancelledError:
            for future in mine.values():
                future.cancel()  # its waiters compute it themselves
            raise
        except BaseException as e:
            for future in mine.values():
                future.set_exception(e)
                future.exception()  # retrieved: no "never retrieved" warning when no one else waited
            raise
        finally:
            for k, future in mine.items():
                if self._in_flight.get(k) is future:
                    del self._in_flight[k]
        for (k, future), value in zip(mine.items(), fresh, strict=True):
            future.set_result(value)
            values[k] = value
            self._memo[k] = value
        while len(self._memo) > MEMO_SIZE:
            self._memo.popitem(last=False)
        if self.cache and mine:
            self.cache.put_many((k, values[k]) for k in mine)
        if theirs:
            await asyncio.wait(theirs.values())  # another caller's request; cancelling this wait leaves it alone
            values |= {k: f.result() for k, f in theirs.items() if not f.cancelled()}
            values |= await self._compute({k: wanted[k] for k, f in theirs.items() if f.cancelled()})
        return values


_engines: weakref.WeakKeyDictionary[Any, dict[str | None, LikelihoodEngine]] = weakref.WeakKeyDictionary()


def unsupported_reason(api: Any) -> str | None:
    """Why `api` (an inspect ModelAPI) cannot give log-probabilities, or None if it can."""
    from inspect_ai.model._providers.hf import HuggingFaceAPI
    from inspect_ai.model._providers.openai_compatible import OpenAICompatibleAPI

    if isinstance(api, HuggingFaceAPI | OpenAICompatibleAPI):
        return None
    provider = type(api).__name__.removesuffix("API") or "this provider"
    return UNSUPPORTED.format(provider=f"{provider} ({api.model_name})")


def engine_for(api: Any, *, cache: bool = True) -> LikelihoodEngine:
    """The (memoised) engine for an inspect ModelAPI instance, with the cache asked for: none, or the one in
    the current home (a model shared across runs must not read, or fill, another run's cache)."""
    where = str(LogprobCache.default_path()) if cache else None
    engines = _engines.setdefault(api, {})
    if where not in engines:
        engines[where] = _make_engine(api, LogprobCache() if cache else None)
    return engines[where]


def _make_engine(api: Any, cache: LogprobCache | None) -> LikelihoodEngine:
    from inspect_ai.model._providers.hf import HuggingFaceAPI

    from prosaic_evals.models._identity import model_identity
    from prosaic_evals.models._provider import ManagedVLLMAPI

    reason = unsupported_reason(api)
    if reason:
        raise UserError(reason)
    if isinstance(api, ManagedVLLMAPI):
        server = api.server
        backend: LogprobBackend = VLLMCompletions(
            base_url=server.base_url, api_key=server.api_key, model=api.service_model_name(),
            identity=api.identity, server=server,
        )  # fmt: skip
        local = Path(api.launch.model).is_dir()
        tokenizer: Tokenizer = (
            LocalTokenizer.from_pretrained(api.launch.model)
            if local
            else RemoteTokenizer(server.root_url, server.api_key, api.service_model_name())
        )
        return LikelihoodEngine(backend, tokenizer, cache)
    if isinstance(api, HuggingFaceAPI):
        identity = f"hf:{model_identity(api.model_name)}"
        return LikelihoodEngine(HFForward(model=api.model, identity=identity), LocalTokenizer(api.tokenizer), cache)
    # Any other OpenAI-compatible server: assume vLLM's endpoints; a server
    # without them fails on the first request with a clear message.
    base_url = str(api.base_url)
    root = base_url.removesuffix("/").removesuffix("/v1")
    name = api.service_model_name()
    backend = VLLMCompletions(base_url=base_url, api_key=api.api_key, model=name, identity=f"{base_url}|{name}")
    return LikelihoodEngine(backend, RemoteTokenizer(root, api.api_key, name), cache)
