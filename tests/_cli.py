"""The command line run in this process: the same entry point as the `prosaic-evals` script, without paying
for a fresh interpreter and its imports on every call (a subprocess costs about 3 s here)."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from unittest import mock

from prosaic_evals._cli import main


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: dict[str, str] | None = None, drop_keys: bool = False) -> Outcome:
    """Exit code, stdout and stderr of `prosaic-evals ARGS`; `env` is added to the environment, and
    `drop_keys` takes every `*_API_KEY` and `*_BASE_URL` out of it for the call."""
    environ = {k: v for k, v in os.environ.items() if not (drop_keys and k.endswith(("_API_KEY", "_BASE_URL")))}
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, {**environ, **(env or {})}, clear=True), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):  # fmt: skip
        try:
            main(list(args))
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return Outcome(code, out.getvalue(), err.getvalue())
