"""One line, not a traceback, in inspect's display for the failures a user can act on.

inspect shows a task's error as a full traceback. For an error of ours (UserError:
bad input found while running, a request that ran out of retries) or a provider
that kept failing, the traceback says nothing the message does not; the CLI
installs this so that its output ends in one line per failure. Any other error
(a bug) keeps its traceback.
"""

from __future__ import annotations

from typing import Any

from prosaic_evals._errors import UserError


def concise_errors_in_inspect_display() -> None:
    try:
        from inspect_ai._display.core import results
    except ImportError:  # inspect reorganised its display: keep its tracebacks
        return
    original = getattr(results, "rich_traceback", None)  # the one use: a task's error panel
    if original is None or getattr(original, "_prosaic_concise", False):
        return

    def rich_traceback(exc_type: Any, exc_value: BaseException, *args: Any, **kwargs: Any) -> Any:
        line = expected_failure(exc_value)
        if line is None:
            return original(exc_type, exc_value, *args, **kwargs)
        from rich.text import Text

        return Text(line)

    rich_traceback._prosaic_concise = True  # type: ignore[attr-defined]
    results.rich_traceback = rich_traceback  # type: ignore[attr-defined]


def expected_failure(error: BaseException) -> str | None:
    """One line for an error a user can act on, None for anything else."""
    import httpx
    import openai
    from tenacity import RetryError

    if isinstance(error, UserError):
        return str(error)
    if isinstance(error, RetryError):
        last = error.last_attempt.exception() if error.last_attempt.failed else None
        cause = f"{type(last).__name__}: {last}" if last else "no cause recorded"
        return f"a request kept failing and ran out of retries ({cause[:300]}); see --max-retries and --timeout"
    if isinstance(error, openai.APIError | httpx.TransportError):
        return f"{type(error).__name__}: {str(error)[:300]}"
    return None
