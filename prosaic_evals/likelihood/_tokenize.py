"""Turn (messages, continuation) into token ids the way the model would see them.

Chat models: the prompt is the chat template with the generation prompt, and
the continuation is tokenized on its own, as the model would produce it after
the assistant header. Models without a chat template get the plain one (see
`prosaic_evals.models._chat`) and the continuation follows after a space.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx

from prosaic_evals._errors import UserError
from prosaic_evals.likelihood._types import LogprobRequest, Tokenized
from prosaic_evals.models._completions import after_seam
from prosaic_evals.models._retry import send_with_retries


def raw_texts(request: LogprobRequest) -> tuple[str, str]:
    """(prompt, continuation) as raw text, joined as `after_seam` says."""
    (role, prompt), *others = request.messages
    if others or role != "user":
        raise UserError("format: completion takes a plain text prompt, not chat messages")
    return prompt, after_seam(prompt, request.continuation)


class LocalTokenizer:
    """A Hugging Face tokenizer loaded in this process."""

    def __init__(self, tokenizer: Any) -> None:
        from prosaic_evals.models._chat import ensure_chat_template

        self.tokenizer = tokenizer
        self.separator = ensure_chat_template(tokenizer)

    @classmethod
    def from_pretrained(cls, path: str) -> LocalTokenizer:
        from transformers import AutoTokenizer

        return cls(AutoTokenizer.from_pretrained(path))

    async def encode(self, request: LogprobRequest) -> Tokenized:
        return self.encode_sync(request)

    def encode_sync(self, request: LogprobRequest) -> Tokenized:
        if request.completion:
            prompt_text, continuation = raw_texts(request)
            prompt_ids = self.tokenizer(prompt_text)["input_ids"]  # with the model's BOS, as a server would
            ids = self.tokenizer(continuation, add_special_tokens=False)["input_ids"]
            return Tokenized(tuple(prompt_ids), tuple(ids))
        messages = [{"role": role, "content": content} for role, content in request.messages]
        prompt = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=False
        )
        ids = self.tokenizer(self.separator + request.continuation, add_special_tokens=False)["input_ids"]
        return Tokenized(tuple(prompt), tuple(ids))


class RemoteTokenizer:
    """vLLM's `/tokenize` endpoint, for servers whose tokenizer is not local."""

    def __init__(self, root_url: str, api_key: str | None, model: str) -> None:
        self.url = f"{root_url.rstrip('/')}/tokenize"
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model
        self._limit = anyio.CapacityLimiter(16)

    async def encode(self, request: LogprobRequest) -> Tokenized:
        messages = [{"role": role, "content": content} for role, content in request.messages]
        async with self._limit, httpx.AsyncClient(timeout=60) as client:
            if request.completion:
                prompt_text, continuation = raw_texts(request)
                prompt = await self._post(client, {"prompt": prompt_text, "add_special_tokens": True})
            else:
                continuation = request.continuation
                prompt = await self._post(client, {"messages": messages, "add_generation_prompt": True})
            ids = await self._post(client, {"prompt": continuation, "add_special_tokens": False})
        return Tokenized(tuple(prompt), tuple(ids))

    async def _post(self, client: httpx.AsyncClient, body: dict[str, Any]) -> list[int]:
        async def send() -> httpx.Response:
            return await client.post(self.url, json={"model": self.model, **body}, headers=self.headers)

        response = await send_with_retries(send, what=f"tokenize request to {self.url}")
        if response.status_code != 200:
            raise UserError(
                f"{self.url} could not tokenize (HTTP {response.status_code}); likelihood scoring "
                "needs a vLLM server (with /tokenize) or local weights"
            )
        return list(response.json()["tokens"])
