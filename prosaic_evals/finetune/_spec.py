"""Fine-tune specs: what to train, on what, how. Their hash (with the data's) names the variant."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from prosaic_evals._strict import StrictModel

# Hyperparameters each backend understands; any other one set in a spec is an error.
LOCAL_ONLY = {"learning_rate", "gradient_accumulation_steps", "lora_rank", "lora_alpha", "lora_dropout",
              "lora_target_modules", "max_length", "warmup_ratio", "lr_scheduler", "checkpoints",
              "gradient_checkpointing"}  # fmt: skip
OPENAI_ONLY = {"learning_rate_multiplier"}


class DataSpec(StrictModel):
    """Training data: a task's training split, or a JSONL file of chat records."""

    task: str | None = None
    """A shipped task name or a task file; its family's training split is used."""

    task_args: dict[str, Any] = Field(default_factory=dict)
    """Overrides for that task (as `-T`), e.g. its seed."""

    jsonl: Path | None = None
    """A file with one `{"messages": [{"role": ..., "content": ...}, ...]}` per line."""

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if (self.task is None) == (self.jsonl is None):
            raise ValueError("give exactly one of data.task or data.jsonl")
        if self.jsonl is not None and self.task_args:
            raise ValueError("data.task_args applies to data.task only")
        return self


class Hyperparameters(StrictModel):
    epochs: int = Field(default=3, ge=1)
    """Passes over the training records."""

    batch_size: int = Field(default=8, ge=1)
    """Records per device step."""

    learning_rate: float = Field(default=1e-3, gt=0)
    """Peak learning rate (local backend)."""

    gradient_accumulation_steps: int = Field(default=1, ge=1)
    """Steps whose gradients are summed before each update."""

    lora_rank: int = Field(default=16, ge=1)
    """LoRA rank r."""

    lora_alpha: int = Field(default=32, ge=1)
    """LoRA scaling alpha (the update is scaled by alpha / r)."""

    lora_dropout: float = Field(default=0.0, ge=0, lt=1)
    """Dropout on the LoRA input."""

    lora_target_modules: str | list[str] = "all-linear"
    """PEFT's `all-linear` (every linear layer but the output head) or module names."""

    max_length: int = Field(default=256, ge=8)
    """Tokens per record; longer records are truncated."""

    warmup_ratio: float = Field(default=0.0, ge=0, lt=1)
    """Share of the steps spent warming the learning rate up."""

    lr_scheduler: str = "linear"
    """Learning-rate schedule, as transformers names it (`linear`, `cosine`, `constant`, ...)."""

    checkpoints: int = Field(default=4, ge=1)
    """Checkpoints kept for resuming, spread evenly over training."""

    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, about a third more compute, the same result.
    Turn it on for models whose activations do not fit (TRL's default; off here because small models fit)."""

    learning_rate_multiplier: float | None = Field(default=None, gt=0)
    """OpenAI only: the API's learning-rate multiplier (its default when unset)."""


class FineTuneSpec(StrictModel):
    """A recipe that turns a base model into a variant."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    """The variant's name (letters, digits, `.`, `_`, `-`): use it as `--model variant/<name>`."""

    base: str = "local"
    """Model to fine-tune: `local`, a model directory or hub id (local backend), or an OpenAI model."""

    backend: Literal["local", "openai"] = "local"
    """`local`: TRL and PEFT on this machine; `openai`: the OpenAI fine-tuning API."""

    method: Literal["lora", "full"] = "lora"
    """`lora`: a PEFT LoRA adapter; `full`: every weight is trained."""

    data: DataSpec
    """The training records: a task's training split or a JSONL file."""

    hyperparameters: Hyperparameters = Hyperparameters()
    """Training settings; the defaults suit the embedded model."""

    seed: int = 0
    """Training seed (data order, LoRA initialisation)."""

    format: Literal["chat", "completion"] = "chat"
    """`chat`: conversations under the base model's chat template; `completion`: prompt/completion pairs as
    raw text, the loss on the completion (as a task's `format: completion` evaluates)."""

    @model_validator(mode="after")
    def _backend_options(self) -> FineTuneSpec:
        given = self.hyperparameters.model_fields_set
        unused = sorted(given & (LOCAL_ONLY if self.backend == "openai" else OPENAI_ONLY))
        if unused:
            raise ValueError(f"hyperparameters.{unused[0]} is not used by the {self.backend} backend")
        if self.backend == "openai" and self.format == "completion":
            raise ValueError("format: completion is for the local backend (OpenAI's API fine-tunes chat models)")
        if self.backend == "openai" and self.method != "full":
            raise ValueError("the openai backend trains the whole model: set method: full")
        lora = sorted(name for name in given if name.startswith("lora_"))
        if self.method == "full" and lora:
            raise ValueError(f"hyperparameters.{lora[0]} is not used by method full")
        return self

    def identity(self, data_hash: str, base_identity: str) -> str:
        """Hash of everything that determines the result (the name is only a label)."""
        # format: chat is left out so that variants from before it existed keep their identity; gradient
        # checkpointing trades memory for time and does not change what is learnt
        exclude: Any = {"name": True, "hyperparameters": {"gradient_checkpointing"}}
        if self.format == "chat":
            exclude["format"] = True
        recipe = self.model_dump(mode="json", exclude=exclude)
        recipe["data"] = data_hash  # the records themselves, not where they came from
        text = json.dumps({"recipe": recipe, "base": base_identity}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
