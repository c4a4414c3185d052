from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prosaic_evals._errors import UserError
from prosaic_evals.models import inspect_model_name, resolve_model


def test_model_strings_map_to_inspect_providers(embedded_dir: Path) -> None:
    assert inspect_model_name("local") == "prosaic-vllm/local"
    assert inspect_model_name("vllm/meta-llama/Llama-3.1-8B") == "prosaic-vllm/meta-llama/Llama-3.1-8B"
    assert inspect_model_name("hf/local") == f"hf/{embedded_dir}"
    assert inspect_model_name("openai/gpt-4o") == "openai/gpt-4o"
    assert inspect_model_name("openai-api/together/llama") == "openai-api/together/llama"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("gpt-4o", "unknown model 'gpt-4o': use local, variant/<name>, vllm/<model>"),
        ("nosuch/model", "provider 'nosuch' is not known"),
        ("openai/gpt-4o", "No OPENAI_API_KEY"),
        ("anthropic/claude-sonnet-4-5", "No ANTHROPIC_API_KEY"),
        ("openai-api/acme/model", "ACME_API_KEY"),
        ("http://127.0.0.1:9/v1", "cannot reach the server at http://127.0.0.1:9/v1"),
    ],
)
def test_bad_model_strings_and_missing_keys_are_one_line_errors(ref: str, expected: str) -> None:
    with pytest.raises(UserError) as info:
        resolve_model(ref)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_an_unreachable_base_url_fails_in_seconds_not_after_retrying_for_ever(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("ACME_API_KEY", "k")
    began = time.monotonic()
    with pytest.raises(UserError, match=r"cannot reach --model-base-url http://127\.0\.0\.1:9/v1: ConnectError"):
        resolve_model("openai-api/acme/model", base_url="http://127.0.0.1:9/v1")
    assert time.monotonic() - began < 15


def test_server_options_are_checked_before_anything_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    from prosaic_evals.models._provider import RunningServerAPI

    with pytest.raises(UserError, match=r"-M bogus: not a vLLM server option \(known: "):
        resolve_model("local", model_args={"bogus": 1})
    with pytest.raises(UserError, match=r"-M max_model_len='long': Input should be a valid integer"):
        resolve_model("local", model_args={"max_model_len": "long"})
    with pytest.raises(UserError, match="-M bogus: a server that is already running takes no server options"):
        RunningServerAPI("m", base_url="http://127.0.0.1:9/v1", api_key="k", bogus=1)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # the provider is built (no network) and refuses the argument
    with pytest.raises(UserError, match=r"model 'openai/gpt-4o': -M bogus: not an argument this provider takes"):
        resolve_model("openai/gpt-4o", model_args={"bogus": 1})


def test_vllms_advice_is_translated_into_the_harness_options() -> None:
    from prosaic_evals.models._vllm_server import memory_hint

    tail = ("ValueError: ... larger than the available KV cache memory (0.01 GiB). Try increasing "
            "`gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.")  # fmt: skip
    hint = memory_hint(tail)
    assert "-M gpu_memory_utilization=F" in hint and "-M max_model_len=N" in hint
    assert memory_hint("RuntimeError: CUDA error") == ""


def test_a_key_given_in_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert str(resolve_model("openai/gpt-4o")) == "openai/gpt-4o"  # no network until generate


@pytest.mark.slow
def test_a_running_server_is_reached_by_url(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match="refused the API key: set VLLM_API_KEY"):
        resolve_model(server.base_url)
    monkeypatch.setenv("VLLM_API_KEY", server.api_key)
    model = resolve_model(server.root_url)  # /v1 is added
    assert str(model) == f"prosaic-server/{server.spec.served_name}"
    assert model.api.base_url == server.base_url
