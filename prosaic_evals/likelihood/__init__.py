"""Log P(continuation | prompt) from vLLM servers or local weights, batched and cached."""

from prosaic_evals.likelihood._batcher import MicroBatcher
from prosaic_evals.likelihood._cache import LogprobCache
from prosaic_evals.likelihood._engine import LikelihoodEngine, engine_for, unsupported_reason
from prosaic_evals.likelihood._types import LogprobRequest, LogprobResult, Tokenized

__all__ = [
    "LikelihoodEngine",
    "LogprobCache",
    "LogprobRequest",
    "LogprobResult",
    "MicroBatcher",
    "Tokenized",
    "engine_for",
    "unsupported_reason",
]
