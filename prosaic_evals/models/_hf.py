"""Local weights (`hf/<model>`): raw-text generation for completion-format tasks, and greedy decoding.

inspect's hf provider always renders a chat (the tokenizer's template, or `role: text` lines).
A request marked as completion format (see `_completions`) is rendered as its prompt text alone,
tokenized as the likelihood scorer tokenizes raw text (with the model's BOS, if it has one).
It also always samples, so temperature 0 (every shipped task) fails in transformers; a request at
temperature 0 decodes greedily instead. Both are read in `generate` and seen by `hf_chat` and the
provider's `do_sample` through context variables: inspect reads them from `generate` before any
await, within the same task, so concurrent requests do not see each other's.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from inspect_ai.model._providers.hf import HuggingFaceAPI

from prosaic_evals._errors import UserError
from prosaic_evals.models._completions import is_completion

_raw_text: ContextVar[bool] = ContextVar("prosaic_raw_text", default=False)
_greedy: ContextVar[bool] = ContextVar("prosaic_greedy", default=False)


class LocalWeightsAPI(HuggingFaceAPI):
    async def generate(self, input: list[Any], tools: list[Any], tool_choice: Any, config: Any) -> Any:
        raw, greedy = _raw_text.set(is_completion(config)), _greedy.set(config.temperature == 0)
        try:
            return await super().generate(input, tools, tool_choice, config)
        finally:
            _raw_text.reset(raw)
            _greedy.reset(greedy)

    @property
    def do_sample(self) -> bool:
        return False if _greedy.get() else bool(self.__dict__.get("do_sample", True))

    @do_sample.setter
    def do_sample(self, value: bool) -> None:
        self.__dict__["do_sample"] = value

    def hf_chat(self, messages: list[Any], tools: list[Any]) -> str:
        if not _raw_text.get():
            return str(super().hf_chat(messages, tools))
        if len(messages) != 1 or messages[0].role != "user":
            raise UserError("format: completion takes a plain text prompt, not chat messages")
        return str(messages[0].text)


def adapt_local_weights(api: Any) -> None:
    """Give an hf model raw-text generation and greedy decoding; its name, weights and state stay as they are."""
    if type(api) is HuggingFaceAPI:
        api.__class__ = LocalWeightsAPI  # a subclass that adds behaviour only: no new state
