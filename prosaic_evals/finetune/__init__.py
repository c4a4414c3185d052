"""Fine-tuning hooks: specs, the local (TRL + PEFT) and OpenAI backends, the variant registry."""

from prosaic_evals.finetune._data import data_hash, load_records, read_jsonl, record_problem
from prosaic_evals.finetune._finetune import finetune, load_finetune_spec
from prosaic_evals.finetune._registry import Registry, Variant
from prosaic_evals.finetune._spec import DataSpec, FineTuneSpec, Hyperparameters

__all__ = [
    "DataSpec",
    "FineTuneSpec",
    "Hyperparameters",
    "Registry",
    "Variant",
    "data_hash",
    "finetune",
    "load_finetune_spec",
    "load_records",
    "read_jsonl",
    "record_problem",
]
