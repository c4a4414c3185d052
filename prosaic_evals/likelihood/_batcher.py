"""Coalesce concurrent scoring calls into few large requests.

inspect scores samples concurrently, one call per sample; vLLM's
`/v1/completions` takes many prompts per request. Calls arriving within
`max_wait` seconds of each other share a request of up to `max_batch` items.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class MicroBatcher(Generic[T, R]):
    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = 128,
        max_wait: float = 0.05,
    ) -> None:
        self.run = run
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.batches = 0
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._timer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, items: Sequence[T]) -> list[R]:
        if not items:
            return []
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[R]] = [loop.create_future() for _ in items]
        self._pending.extend(zip(items, futures, strict=True))
        if len(self._pending) >= self.max_batch:
            self._drain()
        elif self._timer is None or self._timer.done():
            self._timer = loop.create_task(self._drain_later())
        return list(await asyncio.gather(*futures))

    async def _drain_later(self) -> None:
        await asyncio.sleep(self.max_wait)
        self._drain()

    def _drain(self) -> None:
        while self._pending:
            chunk = self._pending[: self.max_batch]
            self._pending = self._pending[self.max_batch :]
            task = asyncio.get_running_loop().create_task(self._run_chunk(chunk))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_chunk(self, chunk: list[tuple[T, asyncio.Future[R]]]) -> None:
        self.batches += 1
        try:
            results = await self.run([item for item, _ in chunk])
        except BaseException as e:  # every waiter must hear of the failure
            for _, future in chunk:
                if not future.done():
                    future.set_exception(e)
            return
        for (_, future), result in zip(chunk, results, strict=True):
            if not future.done():
                future.set_result(result)
