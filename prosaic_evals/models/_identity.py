"""Model identities: what a result was produced by, stable across runs and paths.

Used in cache keys (so a changed model never serves stale answers) and in the
run metadata that reports print.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from prosaic_evals._data import sha256_file
from prosaic_evals._paths import home
from prosaic_evals.models._embedded import EMBEDDED_NAME, MARKER

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")


def model_identity(model: str) -> str:
    """`name@hash` for a local directory (hash of config and weights), else the hub id."""
    path = Path(model).expanduser()
    if not path.is_dir():
        return model
    marker = path / MARKER
    if marker.is_file():  # the embedded model: named by the GGUF it was converted from
        return f"{EMBEDDED_NAME}@{json.loads(marker.read_text())['gguf_sha256'][:16]}"
    return f"{path.name}@{directory_digest(path)[:16]}"


def directory_digest(path: Path) -> str:
    """sha256 over a model directory's config and weight files, memoised by size and mtime."""
    files = sorted(
        p for p in path.iterdir()
        if p.is_file() and (p.suffix in WEIGHT_SUFFIXES or p.name.endswith("config.json"))
    )  # fmt: skip
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    memo_path = home() / "fingerprints.json"
    memo = json.loads(memo_path.read_text()) if memo_path.is_file() else {}
    key = f"{path.resolve()}|{stats}"
    if key not in memo:
        digest = hashlib.sha256()
        for p in files:
            digest.update(f"{p.name}:{sha256_file(p)}\n".encode())
        memo[key] = digest.hexdigest()
        tmp = memo_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(memo))
        tmp.replace(memo_path)
    return str(memo[key])
