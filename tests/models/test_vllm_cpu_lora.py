"""The CPU LoRA plugin computes what vLLM's own (slow) functions compute, except that a token with no adapter
(index -1) gets no adapter, where vLLM's CPU functions apply the last slot's."""

from __future__ import annotations

import importlib

import pytest

torch = pytest.importorskip("torch")
original = importlib.import_module("vllm.lora.ops.torch_ops.lora_ops")

from prosaic_evals.models import _vllm_cpu_lora as fast  # noqa: E402

CASES = {
    "one adapter": [2] * 9,
    "mixed, with no-adapter (-1)": [0, 1, 1, -1, 2, 0, -1, 3, 3],
    "one index for every row": [1],
    "no adapter anywhere": [-1] * 9,
}


def reference(function: object, *args: object, weights: torch.Tensor, index: torch.Tensor) -> None:
    """vLLM's function with an all-zero slot appended for index -1 (what "no adapter" means)."""
    zero = torch.zeros_like(weights[:1])
    function(*args[:1], torch.cat([weights, zero]), args[1], torch.where(index < 0, len(weights), index), *args[2:])


@pytest.fixture(autouse=True)
def originals_are_vllms() -> None:
    assert original.bgmv_shrink.__module__.startswith("vllm"), "the plugin patched this process"


@pytest.mark.parametrize("indices", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("stacked", [3, 4], ids=["3d", "4d"])
def test_shrink_and_expand_match_vllm(indices: list[int], stacked: int) -> None:
    generator = torch.Generator().manual_seed(0)
    rows, rank, hidden = 9, 8, 32
    index = torch.tensor(indices)
    shape_a, shape_b = (4, rank, hidden), (4, hidden, rank)
    if stacked == 4:
        shape_a, shape_b = (4, 1, rank, hidden), (4, 1, hidden, rank)
    lora_a, lora_b = torch.randn(shape_a, generator=generator), torch.randn(shape_b, generator=generator)
    x = torch.randn(rows, hidden, generator=generator)

    theirs, ours = torch.zeros(rows, rank), torch.zeros(rows, rank)
    reference(original.bgmv_shrink, x, theirs, 0.5, weights=lora_a, index=index)
    fast.bgmv_shrink(x, lora_a, ours, index, 0.5)
    torch.testing.assert_close(ours, theirs)
    none = (index < 0).expand(rows)
    assert not ours[none].any()  # no adapter: nothing, whatever the last slot holds

    base = torch.randn(rows, hidden + 4, generator=generator)
    for add in (True, False):
        theirs, ours = base.clone(), base.clone()
        inputs = torch.randn(rows, rank, generator=generator)
        reference(original.bgmv_expand, inputs, theirs, add, weights=lora_b, index=index)
        fast.bgmv_expand(inputs, lora_b, ours, index, add)
        torch.testing.assert_close(ours, theirs)
        theirs, ours = base.clone(), base.clone()
        reference(original.bgmv_expand_slice, inputs, theirs, 2, hidden, add, weights=lora_b, index=index)
        fast.bgmv_expand_slice(inputs, lora_b, ours, index, 2, hidden, add)
        torch.testing.assert_close(ours, theirs)
        if add:
            torch.testing.assert_close(ours[none], base[none])


def test_vllms_own_cpu_function_gives_a_no_adapter_token_the_last_slots_adapter() -> None:
    """Why the plugin differs from vLLM for index -1 (if vLLM fixes this, the plugin's fix is merely redundant)."""
    lora_a, x = torch.ones(4, 2, 3), torch.ones(1, 3)
    theirs, ours = torch.zeros(1, 2), torch.zeros(1, 2)
    original.bgmv_shrink(x, lora_a, theirs, torch.tensor([-1]), 1.0)
    fast.bgmv_shrink(x, lora_a, ours, torch.tensor([-1]), 1.0)
    assert theirs.sum() == 6 and ours.sum() == 0


def test_the_plugin_is_registered_and_can_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import entry_points

    (plugin,) = [e for e in entry_points(group="vllm.general_plugins") if e.name == "prosaic_evals_cpu_lora"]
    assert plugin.value == "prosaic_evals.models._vllm_cpu_lora:register"
    monkeypatch.setenv(fast.DISABLE_ENV, "0")
    fast.register()
    assert original.bgmv_shrink.__module__.startswith("vllm")
