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


def test_a_key_given_in_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert str(resolve_model("openai/gpt-4o")) == "openai/gpt-4o"  # no network until generate


@pytest.mark.slow
def test_a_running_server_is_reached_by_url(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match="refused the API key: set VLLM_API_KEY"):
        resolve_model(server.base_url)
    monkeypatch.setenv("VLLM_API_KEY", server.api_key)
    model = resolve_model(server.root_url)  # /v1 is added
    assert str(model) == f"openai-api/vllm/{server.spec.served_name}"
    assert model.api.base_url == server.base_url
