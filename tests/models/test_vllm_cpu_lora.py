"""The CPU LoRA plugin computes exactly what vLLM's own (slow) functions compute."""

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
}


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
    original.bgmv_shrink(x, lora_a, theirs, index, 0.5)
    fast.bgmv_shrink(x, lora_a, ours, index, 0.5)
    torch.testing.assert_close(ours, theirs)

    base = torch.randn(rows, hidden + 4, generator=generator)
    for add in (True, False):
        theirs, ours = base.clone(), base.clone()
        original.bgmv_expand(ours_in := torch.randn(rows, rank, generator=generator), lora_b, theirs, index, add)
        fast.bgmv_expand(ours_in, lora_b, ours, index, add)
        torch.testing.assert_close(ours, theirs)
        theirs, ours = base.clone(), base.clone()
        original.bgmv_expand_slice(ours_in, lora_b, theirs, index, 2, hidden, add)
        fast.bgmv_expand_slice(ours_in, lora_b, ours, index, 2, hidden, add)
        torch.testing.assert_close(ours, theirs)


def test_the_plugin_is_registered_and_can_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import entry_points

    (plugin,) = [e for e in entry_points(group="vllm.general_plugins") if e.name == "prosaic_evals_cpu_lora"]
    assert plugin.value == "prosaic_evals.models._vllm_cpu_lora:register"
    monkeypatch.setenv(fast.DISABLE_ENV, "0")
    fast.register()
    assert original.bgmv_shrink.__module__.startswith("vllm")
