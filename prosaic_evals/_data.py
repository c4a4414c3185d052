"""Shipped data files, checked against `datasets/manifest.json` before use.

The manifest pins each file's sha256, so a result can name the exact data it
came from and an edited file is noticed instead of silently changing results.
Run `python -m prosaic_evals._data` after editing a file to refresh it.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from prosaic_evals._errors import UserError
from prosaic_evals._paths import datasets_dir

MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@cache
def _manifest() -> dict[str, str]:
    files: dict[str, str] = json.loads((datasets_dir() / MANIFEST).read_text())["files"]
    return files


@cache
def shipped_file(relpath: str) -> Path:
    """Path of a shipped data file, after checking its hash against the manifest."""
    path = datasets_dir() / relpath
    expected = _manifest().get(relpath)
    if expected is None:
        raise UserError(f"datasets/{relpath} is not listed in datasets/{MANIFEST}")
    if not path.is_file():
        raise UserError(f"datasets/{relpath} is missing (listed in datasets/{MANIFEST})")
    if sha256_file(path) != expected:
        raise UserError(
            f"datasets/{relpath} does not match its sha256 in datasets/{MANIFEST}; "
            "restore it, or run `python -m prosaic_evals._data` if the edit is intended"
        )
    return path


def shipped_yaml(relpath: str) -> Any:
    return yaml.safe_load(shipped_file(relpath).read_text())


def shipped_digest(relpaths: list[str]) -> str:
    """One short hash naming the exact versions of several shipped files."""
    joined = "".join(f"{p}:{_manifest()[p]}\n" for p in sorted(relpaths))
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def write_manifest(root: Path | None = None) -> dict[str, str]:
    root = root or datasets_dir()
    files = {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MANIFEST and "__pycache__" not in p.parts
    }
    (root / MANIFEST).write_text(json.dumps({"files": files}, indent=2) + "\n")
    return files


if __name__ == "__main__":
    for name, digest in write_manifest().items():
        print(f"{digest[:12]}  {name}")
