"""On-disk cache of continuation log-probabilities, so a re-run calls no model."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from prosaic_evals._paths import home
from prosaic_evals.likelihood._types import Tokenized


class LogprobCache:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or self.default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS logprobs (key TEXT PRIMARY KEY, logprob REAL NOT NULL)")
        self._lock = threading.Lock()

    @staticmethod
    def default_path() -> Path:
        return home() / "cache" / "logprobs.sqlite"

    @staticmethod
    def key(identity: str, tokens: Tokenized) -> str:
        text = f"{identity}|{','.join(map(str, tokens.prompt))}|{','.join(map(str, tokens.continuation))}"
        return hashlib.sha256(text.encode()).hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, float]:
        found: dict[str, float] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT key, logprob FROM logprobs WHERE key IN ({marks})", chunk)
                found.update(rows.fetchall())
        return found

    def put_many(self, entries: Iterable[tuple[str, float]]) -> None:
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO logprobs VALUES (?, ?)", list(entries))
