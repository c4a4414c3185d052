"""Continuation scoring for the model under evaluation: tokenize, cache, batch, score."""

from __future__ import annotations

import weakref
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


class LikelihoodEngine:
    def __init__(self, backend: LogprobBackend, tokenizer: Tokenizer, cache: LogprobCache | None) -> None:
        self.backend = backend
        self.tokenizer = tokenizer
        self.cache = cache
        self.batcher: MicroBatcher[Tokenized, float] = MicroBatcher(backend.logprobs)

    async def score(self, requests: Sequence[LogprobRequest]) -> list[LogprobResult]:
        tokens = [await self.tokenizer.encode(r) for r in requests]
        keys = [LogprobCache.key(self.backend.identity, t) for t in tokens]
        known = self.cache.get_many(keys) if self.cache else {}
        missing = [i for i, key in enumerate(keys) if key not in known]
        fresh = await self.batcher.submit([tokens[i] for i in missing])
        new = {keys[i]: value for i, value in zip(missing, fresh, strict=True)}
        if self.cache and new:
            self.cache.put_many(new.items())
        return [
            LogprobResult(logprob=known.get(key, new.get(key, 0.0)), n_tokens=len(t.continuation), cached=key in known)
            for key, t in zip(keys, tokens, strict=True)
        ]


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
        pad = api.tokenizer.pad_token_id if api.tokenizer.pad_token_id is not None else api.tokenizer.eos_token_id
        identity = f"hf:{model_identity(api.model_name)}"
        return LikelihoodEngine(
            HFForward(model=api.model, pad_token_id=pad, identity=identity), LocalTokenizer(api.tokenizer), cache
        )
    # Any other OpenAI-compatible server: assume vLLM's endpoints; a server
    # without them fails on the first request with a clear message.
    base_url = str(api.base_url)
    root = base_url.removesuffix("/").removesuffix("/v1")
    name = api.service_model_name()
    backend = VLLMCompletions(base_url=base_url, api_key=api.api_key, model=name, identity=f"{base_url}|{name}")
    return LikelihoodEngine(backend, RemoteTokenizer(root, api.api_key, name), cache)
