"""Residual-stream activations at named positions, streamed to disk in chunks and cached.

One forward pass per batch (right padding, so a causal model's positions are unaffected);
the hidden states at the requested layers and positions are copied out and the batch is
dropped, and every `chunk` texts go to one `.npy` file: memory does not grow with the
number of texts. The folder is keyed by (model identity, token ids and their positions,
positions, layers) and written under a temporary name then renamed, so an interrupted
extraction leaves nothing half-written and a repeated one is read from disk.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prosaic_evals._errors import UserError
from prosaic_evals._paths import home, write_folder
from prosaic_evals.probes._positions import Located
from prosaic_evals.probes._weights import LocalModel

META = "activations.json"


@dataclass(frozen=True)
class Activations:
    """A folder of chunks: arrays of shape (texts, positions, layers, hidden size), float32."""

    path: Path
    positions: list[str]
    layers: list[int]
    n: int

    @classmethod
    def open(cls, path: Path) -> Activations:
        meta = json.loads((path / META).read_text())
        return cls(path, meta["positions"], meta["layers"], meta["n"])

    def chunks(self) -> list[Path]:
        return sorted(self.path.glob("chunk-*.npy"))

    def get(self, position: str, layer: int) -> np.ndarray:
        """(texts, hidden size) at one position and layer, read chunk by chunk (memory-mapped)."""
        p, k = self.positions.index(position), self.layers.index(layer)
        return np.concatenate([np.load(c, mmap_mode="r")[:, p, k, :] for c in self.chunks()])


def check_layers(layers: Sequence[int] | None, n_layers: int) -> list[int]:
    """Layers 0 (embeddings) to n_layers (the last block's output); all of them when None."""
    if layers is None:
        return list(range(n_layers + 1))
    for layer in layers:
        if not 0 <= layer <= n_layers:
            raise UserError(f"layer {layer} is out of range: this model has layers 0 to {n_layers}")
    return sorted(set(layers))


def cache_key(identity: str, located: Located, positions: Sequence[str], layers: Sequence[int]) -> str:
    digest = hashlib.sha256(
        json.dumps([identity, located.ids, located.indices, list(positions), list(layers)]).encode()
    )
    return digest.hexdigest()[:24]


def extract(
    lm: LocalModel,
    located: Located,
    *,
    positions: Sequence[str],
    layers: Sequence[int],
    batch_size: int = 16,
    chunk: int = 256,
    root: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Activations:
    """Activations of the `located` texts at their token indices (one per position name), from the cache if there."""
    root = root or home() / "activations"
    target = root / cache_key(lm.identity, located, positions, layers)
    if (target / META).is_file():
        return Activations.open(target)
    with write_folder(target) as tmp:
        n = len(located.ids)
        for number, start in enumerate(range(0, n, chunk)):
            stop = min(start + chunk, n)
            block = _forward(lm, located.ids[start:stop], located.indices[start:stop], list(layers), batch_size)
            np.save(tmp / f"chunk-{number:05d}.npy", block)
            if progress:
                progress(stop, n)
        meta = {"identity": lm.identity, "positions": list(positions), "layers": list(layers), "n": n}
        (tmp / META).write_text(json.dumps(meta))
    return Activations.open(target)


def _forward(
    lm: LocalModel,
    token_ids: Sequence[Sequence[int]],
    indices: Sequence[Sequence[int]],
    layers: list[int],
    batch_size: int,
) -> np.ndarray:
    import torch

    tokenizer, model = lm.tokenizer, lm.model
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    body = model.get_decoder() if hasattr(model, "get_decoder") else model  # no vocabulary projection needed
    out = []
    for start in range(0, len(token_ids), batch_size):
        ids = token_ids[start : start + batch_size]
        width = max(len(i) for i in ids)
        batch = torch.full((len(ids), width), pad, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, seq in enumerate(ids):
            batch[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        with torch.no_grad():
            states = body(input_ids=batch.to(device), attention_mask=mask.to(device), output_hidden_states=True)
        where = torch.tensor([list(i) for i in indices[start : start + batch_size]], device=device)  # (b, positions)
        rows = torch.arange(len(ids), device=device)[:, None]
        # pick the positions layer by layer: stacking whole hidden states first would copy them all
        picked = torch.stack([states.hidden_states[layer][rows, where] for layer in layers], dim=2)  # (b, p, l, d)
        out.append(picked.float().cpu().numpy())
    return np.concatenate(out)
