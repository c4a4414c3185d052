"""Bounded retries for every request the harness sends, and a visible notice for each.

inspect retries a failing model call forever by default, with waits growing to
30 minutes, and says nothing while it does: against a dead server a run sits
silent for ever. Runs here pass `max_retries` and `timeout` (a request's total
time across its attempts) to inspect, the harness's own requests (likelihood,
tokenize) follow the same limits, and every retry is reported through logging,
which inspect's display shows in every mode.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from prosaic_evals._errors import UserError

DEFAULT_MAX_RETRIES = 10
DEFAULT_TIMEOUT = 300
"""Seconds a request may take across all its attempts; with the waits below a dead server ends a run in minutes."""

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
"""HTTP statuses worth another attempt: timeouts, rate limits, and a server that is (re)starting or overloaded."""

MAX_WAIT = 8.0
"""Longest wait between attempts on a server of our own (a local server recovers in seconds, or not at all)."""

logger = logging.getLogger("prosaic_evals.retries")


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = DEFAULT_MAX_RETRIES
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def active(cls) -> RetryPolicy:
        """The limits of the evaluation running now (inspect's generate config), else the defaults."""
        from inspect_ai.model._generate_config import active_generate_config

        config = active_generate_config()
        return cls(
            max_retries=DEFAULT_MAX_RETRIES if config.max_retries is None else config.max_retries,
            timeout=DEFAULT_TIMEOUT if config.timeout is None else config.timeout,
        )


def backoff(attempt: int) -> float:
    """Seconds before retry `attempt` (1, 2, ...): 0.5, 1, 2, 4, 8, 8, ... plus up to 0.5 s of jitter."""
    return float(min(MAX_WAIT, 0.5 * 2.0 ** (attempt - 1)) + random.uniform(0, 0.5))


def server_wait() -> Any:
    """The same waits for inspect's retry loop (a tenacity wait), for servers of our own."""
    from tenacity import wait_exponential_jitter

    return wait_exponential_jitter(initial=0.5, max=MAX_WAIT, jitter=0.5)


async def send_with_retries(
    send: Callable[[], Awaitable[httpx.Response]],
    *,
    what: str,
    policy: RetryPolicy | None = None,
    on_connection_error: Callable[[], Awaitable[None]] | None = None,
) -> httpx.Response:
    """`send()` until it gives a response that is not worth retrying, within the policy's limits.

    Connection errors, timeouts and RETRY_STATUS responses are retried; any other
    response is returned for the caller to judge. Past the limits: one UserError.
    """
    policy = policy or RetryPolicy.active()
    began = time.monotonic()
    attempt = 0
    while True:
        response: httpx.Response | None
        try:
            response = await send()
        except httpx.TransportError as e:
            response, reason = None, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        else:
            if response.status_code not in RETRY_STATUS:
                return response
            reason = f"HTTP {response.status_code}"
        attempt += 1
        elapsed = time.monotonic() - began
        if attempt > policy.max_retries or elapsed >= policy.timeout:
            raise UserError(
                f"{what}: gave up after {attempt - 1} retries in {elapsed:.0f} s (last: {reason}); "
                "the limits are --max-retries and --timeout"
            )
        wait = _retry_after(response) or backoff(attempt)
        note_retry(what, attempt, policy.max_retries, wait, reason)
        if response is None and on_connection_error is not None:
            await on_connection_error()
        await anyio.sleep(wait)


def _retry_after(response: httpx.Response | None) -> float | None:
    """A server's Retry-After (seconds), capped so that it cannot stall a run."""
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return min(float(value), 60.0) if value is not None else None
    except ValueError:
        return None


class _Throttle:
    """At most one notice per model every few seconds, with a count of the retries in between."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def due(self, key: str) -> int | None:
        """Retries since the last notice for `key` if one is due now, else None."""
        with self._lock:
            last, skipped = self._last.get(key, (0.0, 0))
            now = time.monotonic()
            if now - last < self.every:
                self._last[key] = (last, skipped + 1)
                return None
            self._last[key] = (now, 0)
            return skipped


_throttle = _Throttle()


def note_retry(what: str, attempt: int, max_retries: int | None, wait: float, reason: str) -> None:
    """Report one retry (throttled per `what`)."""
    skipped = _throttle.due(what)
    if skipped is None:
        return
    limit = f" of {max_retries}" if max_retries is not None else ""
    more = f"; {skipped} other retries since the last notice" if skipped else ""
    logger.warning(f"{what}: retry {attempt}{limit} in {wait:.0f} s after {reason}{more}")


_hooks_installed = False


def install_retry_notices() -> None:
    """Report inspect's own model-call retries like ours (an inspect hook; idempotent)."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    from inspect_ai.hooks import Hooks, ModelRetry, hooks

    @hooks(name="prosaic_evals_retries", description="Report model-call retries as they happen")
    class RetryNotices(Hooks):
        async def on_model_retry(self, data: ModelRetry) -> None:
            reason = f"HTTP {data.status_code}" if data.status_code else (data.exception_type or "an error")
            note_retry(data.model_name, data.attempt, RetryPolicy.active().max_retries, data.wait_time, reason)
