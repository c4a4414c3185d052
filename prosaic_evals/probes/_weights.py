"""Local weights for probing: the embedded model, a model directory or hub id, a registered variant.

Probes read the residual stream, so they need the weights in this process; an API model
(OpenAI, Anthropic, a server URL) is refused with a one-line error. A LoRA variant is
loaded on its base model with the adapter merged (the same function the server serves).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prosaic_evals._errors import UserError

API_PREFIXES = ("openai/", "anthropic/", "openai-api/", "google/", "mistral/", "together/", "groq/", "bedrock/")


@dataclass
class LocalModel:
    name: str
    """The model string it was loaded from."""

    identity: str
    """Weights identity (base hash, plus the adapter's for a LoRA variant): part of cache keys."""

    model: Any
    tokenizer: Any

    @property
    def n_layers(self) -> int:
        """Transformer blocks; residual-stream layers are 0 (embeddings) to n_layers."""
        return int(self.model.config.num_hidden_layers)


def load_local(ref: str, *, dtype: str = "float32") -> LocalModel:
    """Load `ref` (`local`, `variant/<name>`, `hf/<dir or id>`, `vllm/<dir or id>`, a directory) for probing."""
    if re.match(r"https?://", ref) or ref.startswith(API_PREFIXES):
        raise UserError(
            f"model {ref!r} is an API model: probes need local weights (local, a directory, variant/<name>)"
        )
    from prosaic_evals.models._identity import model_identity

    name = ref.removeprefix("hf/").removeprefix("vllm/")
    adapter = None
    if name.startswith("variant/") or _is_variant(name):
        from prosaic_evals.finetune import Registry

        variant = Registry().get(name.removeprefix("variant/")).usable()
        if variant.backend != "local":
            raise UserError(f"variant {variant.name} is an OpenAI model: probes need local weights")
        if variant.method == "lora":
            base, adapter = _path_of(variant.base), variant.adapter_dir
            identity = f"{model_identity(base)}+{variant.identity}"
        else:
            base, identity = str(variant.adapter_dir), model_identity(str(variant.adapter_dir))
    else:
        base = _path_of(name)
        identity = model_identity(base)
    model, tokenizer = _load(base, dtype)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    model.eval()
    return LocalModel(name=ref, identity=identity, model=model, tokenizer=tokenizer)


def _is_variant(name: str) -> bool:
    if "/" in name or Path(name).expanduser().is_dir() or name == "local":
        return False
    from prosaic_evals.finetune import Registry

    return any(v.name == name for v in Registry().variants())


def _path_of(name: str) -> str:
    if name == "local":
        from prosaic_evals.models import ensure_embedded_model

        return str(ensure_embedded_model())
    path = Path(name).expanduser()
    return str(path.resolve()) if path.is_dir() else name


def _load(path: str, dtype: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    except OSError as e:
        raise UserError(f"cannot load local weights from {path!r}: {str(e).splitlines()[0]}") from None
    return model, tokenizer


def random_like(lm: LocalModel, seed: int = 0) -> LocalModel:
    """The same architecture with freshly initialised weights: the probe's untrained-model control."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(lm.model.config, dtype=lm.model.dtype).eval()  # type: ignore[no-untyped-call]
    return LocalModel(f"{lm.name} (random init)", f"{lm.identity}:random-init:{seed}", model, lm.tokenizer)
