"""Residual-stream activations at named positions, streamed to disk in chunks and cached.

One forward pass per batch (right padding, so a causal model's positions are unaffected);
the hidden states at the requested layers and positions are copied out and the batch is
dropped, and every `chunk` texts go to one `.npy` file: memory does not grow with the
number of texts. The folder is keyed by (model identity, texts and their token positions,
positions, layers) and written under a temporary name then renamed, so an interrupted
extraction leaves nothing half-written and a repeated one is read from disk.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prosaic_evals._errors import UserError
from prosaic_evals._paths import home
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


def cache_key(identity: str, texts: Sequence[str], indices: Sequence[Sequence[int]], positions: Sequence[str],
              layers: Sequence[int]) -> str:  # fmt: skip
    digest = hashlib.sha256(json.dumps([identity, list(texts), [list(i) for i in indices], list(positions),
                                        list(layers)]).encode())  # fmt: skip
    return digest.hexdigest()[:24]


def extract(
    lm: LocalModel,
    texts: Sequence[str],
    indices: Sequence[Sequence[int]],
    *,
    positions: Sequence[str],
    layers: Sequence[int],
    batch_size: int = 16,
    chunk: int = 256,
    root: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Activations:
    """Activations of `texts` at token `indices` (one per position name), from the cache if there."""
    root = root or home() / "activations"
    target = root / cache_key(lm.identity, texts, indices, positions, layers)
    if (target / META).is_file():
        return Activations.open(target)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=root))
    try:
        for number, start in enumerate(range(0, len(texts), chunk)):
            stop = min(start + chunk, len(texts))
            block = _forward(lm, texts[start:stop], indices[start:stop], list(layers), batch_size)
            np.save(tmp / f"chunk-{number:05d}.npy", block)
            if progress:
                progress(stop, len(texts))
        meta = {"identity": lm.identity, "positions": list(positions), "layers": list(layers), "n": len(texts)}
        (tmp / META).write_text(json.dumps(meta))
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Activations.open(target)


def _forward(lm: LocalModel, texts: Sequence[str], indices: Sequence[Sequence[int]], layers: list[int],
             batch_size: int) -> np.ndarray:  # fmt: skip
    import torch

    tokenizer, model = lm.tokenizer, lm.model
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(texts), batch_size):
        ids = [tokenizer(t, add_special_tokens=True)["input_ids"] for t in texts[start : start + batch_size]]
        width = max(len(i) for i in ids)
        batch = torch.full((len(ids), width), pad, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, seq in enumerate(ids):
            batch[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        with torch.no_grad():
            states = model(input_ids=batch.to(device), attention_mask=mask.to(device), output_hidden_states=True)
        hidden = torch.stack([states.hidden_states[layer] for layer in layers], dim=1)  # (b, layers, t, d)
        where = torch.tensor([list(i) for i in indices[start : start + batch_size]], device=device)  # (b, positions)
        rows = torch.arange(len(ids), device=device)[:, None]
        picked = hidden.permute(0, 2, 1, 3)[rows, where]  # (b, positions, layers, d)
        out.append(picked.float().cpu().numpy())
    return np.concatenate(out)
