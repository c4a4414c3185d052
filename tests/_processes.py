"""Helpers for tests that signal a child process."""

import signal


def sigint_default() -> None:
    """`preexec_fn` for a child that must get KeyboardInterrupt on SIGINT.

    A job started in the background by a non-interactive shell (`make test &`, some CI
    runners) inherits SIGINT as ignored, and Python then installs no handler for it.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
