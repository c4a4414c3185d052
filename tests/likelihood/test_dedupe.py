"""The engine computes each distinct sequence once: across the candidates of one call, across concurrent
calls (a request in flight is shared), and across calls over time (its memory), even with no disk cache."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from prosaic_evals.likelihood import LikelihoodEngine, LogprobRequest
from prosaic_evals.likelihood._types import Tokenized


class Words:
    """Tokens are the words' lengths; a sequence's log-probability is minus its token count."""

    async def encode(self, request: LogprobRequest) -> Tokenized:
        prompt = tuple(len(w) for _, text in request.messages for w in text.split())
        return Tokenized(prompt, tuple(len(w) for w in request.continuation.split()))


class Counting:
    identity = "counting"

    def __init__(self, delay: float = 0.05, fail: bool = False) -> None:
        self.seen: list[Tokenized] = []
        self.delay, self.fail = delay, fail

    async def logprobs(self, batch: Sequence[Tokenized]) -> list[float]:
        self.seen += batch
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("server said no")
        return [-float(len(t.prompt) + len(t.continuation)) for t in batch]


def request(prompt: str, continuation: str) -> LogprobRequest:
    return LogprobRequest((("user", prompt),), continuation)


PRIORS = [request("", c) for c in ["a bb", "ccc d", "a bb"]]


def test_shared_sequences_are_computed_once_across_concurrent_calls_and_over_time() -> None:
    backend = Counting()
    engine = LikelihoodEngine(backend, Words(), cache=None)

    async def main() -> list[list[float]]:
        calls = [engine.score([request(f"item {'x' * (i + 1)}", "a bb"), *PRIORS]) for i in range(20)]
        return [[r.logprob for r in results] for results in await asyncio.gather(*calls)]

    results = asyncio.run(main())
    assert results == [[-(2 + 2.0), -2.0, -2.0, -2.0] for _ in range(20)]
    assert len(backend.seen) == len(set(backend.seen)) == 20 + 2  # each item once, the two priors once
    asyncio.run(engine.score(PRIORS))
    assert len(backend.seen) == 22  # remembered


def test_a_cancelled_callers_sequences_are_computed_by_those_waiting_for_them() -> None:
    backend = Counting(delay=0.2)
    engine = LikelihoodEngine(backend, Words(), cache=None)

    async def main() -> list[float]:
        first = asyncio.create_task(engine.score(PRIORS))
        await asyncio.sleep(0.1)  # its request is in flight
        second = asyncio.create_task(engine.score(PRIORS))
        await asyncio.sleep(0.01)
        first.cancel()
        return [r.logprob for r in await second]

    assert asyncio.run(main()) == [-2.0, -2.0, -2.0]
    assert len(backend.seen) == 4  # the cancelled request's two sequences, then the waiter's own


def test_a_failed_request_reaches_every_caller_waiting_on_it() -> None:
    engine = LikelihoodEngine(Counting(fail=True), Words(), cache=None)

    async def main() -> list[BaseException | object]:
        return await asyncio.gather(engine.score(PRIORS), engine.score(PRIORS[:1]), return_exceptions=True)

    assert [str(e) for e in asyncio.run(main())] == ["server said no"] * 2
    with pytest.raises(RuntimeError, match="server said no"):  # nothing failed was remembered
        asyncio.run(engine.score(PRIORS))
