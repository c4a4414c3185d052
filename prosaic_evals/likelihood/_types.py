"""Requests and results of continuation log-probability scoring."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class LogprobRequest:
    """log P(continuation | messages), the continuation being the assistant's reply."""

    messages: tuple[tuple[str, str], ...]
    """(role, content) pairs of the prompt."""

    continuation: str

    completion: bool = False
    """Raw text (completion format): the prompt is the user turn's text as is, no chat template."""


@dataclass(frozen=True)
class LogprobResult:
    logprob: float
    """Sum of the continuation tokens' log-probabilities."""

    n_tokens: int
    cached: bool = False


@dataclass(frozen=True)
class Tokenized:
    prompt: tuple[int, ...]
    continuation: tuple[int, ...]


class Tokenizer(Protocol):
    async def encode(self, request: LogprobRequest) -> Tokenized: ...


class LogprobBackend(Protocol):
    identity: str
    """Names the model (and its weights) in cache keys."""

    async def logprobs(self, batch: Sequence[Tokenized]) -> list[float]:
        """Summed continuation log-probabilities, one per request, in order."""
        ...
