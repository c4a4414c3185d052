"""Completion-format generation: the prompt sent as raw text to `/v1/completions`, no chat template.

A task with `format: completion` marks its requests in `GenerateConfig.extra_body`; the vLLM
providers (managed servers and running OpenAI-compatible servers) see the mark and call the
completions endpoint, so inspect's cache, retries and logs work as for chat requests; local
weights (`hf/`) render the prompt text alone (`_hf`).
"""

from __future__ import annotations

from typing import Any

from prosaic_evals._errors import UserError

COMPLETION_FORMAT = "prosaic_completion_format"
"""The mark in `GenerateConfig.extra_body`; it is never sent to a server."""

CHAT_ONLY = (
    "{task}: format: completion generates from raw text, which {model} cannot do here (a chat-only API); "
    "use a vLLM server (local, vllm/<model>, variant/<name>, or a server URL) or local weights (hf/<model>)"
)


def after_seam(prompt: str, continuation: str) -> str:
    """The continuation as it follows the raw prompt: after a space, unless either side already has
    whitespace at the seam (`Paris is the capital of` + `France`). Training and scoring both use it."""
    return continuation if prompt[-1:].isspace() or continuation[:1].isspace() else f" {continuation}"


def is_completion(config: Any) -> bool:
    return bool((config.extra_body or {}).get(COMPLETION_FORMAT))


def supports_completion(api: Any) -> bool:
    from prosaic_evals.models._hf import LocalWeightsAPI
    from prosaic_evals.models._provider import ManagedVLLMAPI, RunningServerAPI

    return isinstance(api, ManagedVLLMAPI | RunningServerAPI | LocalWeightsAPI)


async def complete(client: Any, model: str, input: list[Any], config: Any) -> tuple[Any, Any]:
    """(ModelOutput, ModelCall) for a one-turn text prompt continued by the model."""
    from inspect_ai.model import ModelOutput, ModelUsage
    from inspect_ai.model._model_call import ModelCall

    if len(input) != 1 or input[0].role != "user":
        raise UserError("format: completion takes a plain text prompt, not chat messages")
    request: dict[str, Any] = {"model": model, "prompt": input[0].text}
    for name in ("max_tokens", "temperature", "top_p", "seed", "stop_seqs"):
        value = getattr(config, name, None)
        if value is not None:
            request["stop" if name == "stop_seqs" else name] = value
    response = await client.completions.create(**request)
    choice = response.choices[0]
    output = ModelOutput.from_content(
        model=model, content=choice.text, stop_reason="max_tokens" if choice.finish_reason == "length" else "stop"
    )
    if response.usage is not None:
        usage = response.usage
        output.usage = ModelUsage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens,
                                  total_tokens=usage.total_tokens)  # fmt: skip
    return output, ModelCall.create(request=request, response=response.model_dump())
