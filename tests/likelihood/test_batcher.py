from __future__ import annotations

import asyncio

import pytest

from prosaic_evals.likelihood import MicroBatcher


def test_concurrent_calls_share_requests_and_keep_their_order() -> None:
    sizes: list[int] = []

    async def square(batch: list[int]) -> list[int]:
        sizes.append(len(batch))
        await asyncio.sleep(0.01)
        return [x * x for x in batch]

    async def main() -> list[list[int]]:
        batcher = MicroBatcher(square, max_batch=32, max_wait=0.02)
        return await asyncio.gather(*(batcher.submit([i, -i]) for i in range(100)))

    results = asyncio.run(main())
    assert results == [[i * i, i * i] for i in range(100)]
    assert sum(sizes) == 200 and max(sizes) <= 32
    assert len(sizes) <= 8  # 200 items in requests of 32, not 100 requests


def test_a_failed_request_reaches_every_caller() -> None:
    async def broken(batch: list[int]) -> list[int]:
        raise RuntimeError("server said no")

    async def main() -> list[object]:
        batcher = MicroBatcher(broken, max_batch=4, max_wait=0.01)
        return await asyncio.gather(*(batcher.submit([i]) for i in range(10)), return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, RuntimeError) for r in results)


def test_empty_submissions_do_not_call_the_backend() -> None:
    async def never(batch: list[int]) -> list[int]:
        pytest.fail("called with an empty batch")

    assert asyncio.run(MicroBatcher(never).submit([])) == []
