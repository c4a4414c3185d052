"""Bounded retries for the harness's own requests (likelihood, tokenize), with a notice for each."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest

from prosaic_evals._errors import UserError
from prosaic_evals.models import _retry
from prosaic_evals.models._retry import RetryPolicy, send_with_retries

REAL_BACKOFF = _retry.backoff


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_retry, "backoff", lambda attempt: 0.0)
    monkeypatch.setattr(_retry, "_throttle", _retry._Throttle(every=0.0))


def sender(*statuses: int | type[Exception]) -> tuple[list[int], object]:
    calls: list[int] = []
    it = iter(statuses)

    async def send() -> httpx.Response:
        calls.append(1)
        status = next(it)
        if isinstance(status, type):
            raise status("connection dropped")
        return httpx.Response(status, headers={"retry-after": "0"} if status == 429 else {}, json={"ok": True})

    return calls, send


def test_transient_failures_are_retried_until_an_answer(caplog: pytest.LogCaptureFixture) -> None:
    calls, send = sender(503, httpx.ConnectError, 429, 500, 200)
    with caplog.at_level(logging.WARNING, logger="prosaic_evals.retries"):
        response = asyncio.run(send_with_retries(send, what="likelihood request", policy=RetryPolicy(10, 60)))  # type: ignore[arg-type]
    assert response.status_code == 200 and len(calls) == 5
    notices = [r.getMessage() for r in caplog.records]
    assert notices[0] == "likelihood request: retry 1 of 10 in 0 s after HTTP 503"
    assert "after ConnectError: connection dropped" in notices[1] and len(notices) == 4


def test_a_dead_server_ends_in_one_line_after_the_retries() -> None:
    calls, send = sender(*[503] * 20)
    with pytest.raises(UserError) as info:
        asyncio.run(
            send_with_retries(send, what="likelihood request to http://x/v1/completions", policy=RetryPolicy(3, 60))
        )  # type: ignore[arg-type]
    assert len(calls) == 4  # the first attempt and 3 retries
    message = str(info.value)
    assert "\n" not in message and "gave up after 3 retries" in message and "(last: HTTP 503)" in message
    assert "--max-retries and --timeout" in message


def test_the_time_limit_ends_retries_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_retry, "backoff", lambda attempt: 0.3)
    calls, send = sender(*[500] * 100)
    began = time.monotonic()
    with pytest.raises(UserError, match="gave up after"):
        asyncio.run(send_with_retries(send, what="x", policy=RetryPolicy(1000, 1)))  # type: ignore[arg-type]
    assert time.monotonic() - began < 5 and 2 <= len(calls) <= 6


def test_a_client_error_is_returned_at_once_for_the_caller_to_judge() -> None:
    calls, send = sender(400, 200)
    response = asyncio.run(send_with_retries(send, what="x", policy=RetryPolicy()))  # type: ignore[arg-type]
    assert response.status_code == 400 and len(calls) == 1


def test_a_connection_error_asks_for_recovery_before_the_next_attempt() -> None:
    calls, send = sender(httpx.ConnectError, 200)
    recovered: list[int] = []

    async def recover() -> None:
        recovered.append(len(calls))

    asyncio.run(send_with_retries(send, what="x", policy=RetryPolicy(), on_connection_error=recover))  # type: ignore[arg-type]
    assert recovered == [1]


def test_backoff_grows_and_is_capped() -> None:
    waits = [REAL_BACKOFF(attempt) for attempt in range(1, 12)]
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 1.5 and 2.0 <= waits[2] <= 2.5
    assert all(_retry.MAX_WAIT <= w <= _retry.MAX_WAIT + 0.5 for w in waits[5:])


def test_the_default_limits_end_a_run_against_a_dead_server_within_minutes() -> None:
    """What the fault suite measures with fewer retries (to keep it short): at the defaults, the waits of every
    retry of one request add up to about a minute, for our own requests and for inspect's retry loop alike."""
    from types import SimpleNamespace

    worst = sum(min(_retry.MAX_WAIT, 0.5 * 2 ** (a - 1)) + 0.5 for a in range(1, _retry.DEFAULT_MAX_RETRIES + 1))
    assert 30 < worst < 90
    inspect_wait = _retry.server_wait()
    waits = [inspect_wait(SimpleNamespace(attempt_number=a)) for a in range(1, _retry.DEFAULT_MAX_RETRIES + 1)]
    assert max(waits) <= _retry.MAX_WAIT and sum(waits) < 90
    assert _retry.DEFAULT_TIMEOUT <= 300  # and no request, however slow its failures, goes past 5 minutes
