"""The variant registry: every fine-tuned model, how it was made, and where it is.

A JSON file under `$PROSAIC_EVALS_HOME/variants/`, rewritten atomically under a
file lock, so an interrupted or concurrent write never loses an entry. Local
variants keep their files beside it, in a folder named after the variant.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from prosaic_evals._errors import UserError
from prosaic_evals._paths import home
from prosaic_evals._strict import StrictModel

ADAPTER = "adapter"
WEIGHTS = "weights"


class Variant(StrictModel):
    """One fine-tuned model and its provenance."""

    name: str
    status: Literal["ready", "pending", "failed"]
    base: str
    """The base model as given in the spec (`local`, a path, a hub id, an OpenAI model)."""

    base_identity: str
    backend: Literal["local", "openai"]
    method: Literal["lora", "full"]
    identity: str
    """Hash of the spec and the data: an identical recipe is never trained twice."""

    data_hash: str
    data_source: str
    seed: int
    spec: dict[str, Any]
    path: str | None = None
    """Local variants: the folder with `adapter/` (LoRA) or `weights/` (full), the training log and metadata."""

    remote_id: str | None = None
    """OpenAI variants: the fine-tuned model id."""

    job_id: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def adapter_dir(self) -> Path:
        assert self.path is not None
        return Path(self.path) / (ADAPTER if self.method == "lora" else WEIGHTS)

    def usable(self) -> Variant:
        """This variant, if it can be evaluated now; else a one-line error saying what to do."""
        if self.status == "pending":
            raise UserError(
                f"variant {self.name}: OpenAI job {self.job_id} is still running; "
                "run `prosaic-evals finetune` on its spec again to wait for it"
            )
        if self.status == "failed":
            raise UserError(f"variant {self.name} failed to train ({self.error}); fix the spec and run it again")
        config = "adapter_config.json" if self.method == "lora" else "config.json"
        if self.backend == "local" and not (self.adapter_dir / config).is_file():
            raise UserError(
                f"variant {self.name}: its files are missing at {self.adapter_dir}; train it again with "
                f"`prosaic-evals finetune` or drop the entry with `prosaic-evals models remove {self.name}`"
            )
        return self


class Registry:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or home() / "variants"
        self.root.mkdir(parents=True, exist_ok=True)
        self.file = self.root / "registry.json"

    def variants(self) -> list[Variant]:
        if not self.file.is_file():
            return []
        entries = json.loads(self.file.read_text())["variants"]
        return [Variant.model_validate(entry) for entry in entries]

    def get(self, name: str) -> Variant:
        for variant in self.variants():
            if variant.name == name:
                return variant
        known = ", ".join(v.name for v in self.variants()) or "none yet: see prosaic-evals finetune"
        raise UserError(f"unknown variant {name!r} (registered: {known})")

    def by_identity(self, identity: str) -> Variant | None:
        return next((v for v in self.variants() if v.identity == identity), None)

    def put(self, variant: Variant) -> None:
        """Add or replace (by name) one entry."""
        with self._locked():
            others = [v for v in self.variants() if v.name != variant.name]
            self._write([*others, variant])

    def remove(self, name: str, *, delete_files: bool = False) -> Variant:
        with self._locked():
            variant = self.get(name)
            self._write([v for v in self.variants() if v.name != name])
        if delete_files and variant.path:
            shutil.rmtree(variant.path, ignore_errors=True)
        return variant

    def variant_dir(self, name: str) -> Path:
        return self.root / name

    def work_dir(self, identity: str) -> Path:
        """Scratch space of an unfinished training run (checkpoints for resuming)."""
        return self.root / ".work" / identity

    @contextlib.contextmanager
    def training(self, identity: str, say: Callable[[str], None], *, poll: float = 2.0) -> Iterator[None]:
        """Hold the lock on one recipe's training: a second process training the same recipe waits here
        (and then finds the variant the first one made). The lock files stay: deleting one while another
        process waits on it would let a third one in."""
        locks = self.root / ".locks"
        locks.mkdir(exist_ok=True)
        with (locks / f"{identity}.lock").open("a") as lock:
            waited = 0.0
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if waited % 60 == 0:
                        say(f"Another process is training this recipe (identity {identity}); waiting for it to finish")
                    time.sleep(poll)
                    waited += poll
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, variants: list[Variant]) -> None:
        data = {"variants": [v.model_dump(mode="json") for v in sorted(variants, key=lambda v: v.created)]}
        with tempfile.NamedTemporaryFile("w", dir=self.root, prefix=".registry-", suffix=".tmp", delete=False) as f:
            f.write(json.dumps(data, indent=2) + "\n")
        Path(f.name).replace(self.file)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.root / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
