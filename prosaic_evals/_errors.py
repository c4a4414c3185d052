"""The one exception type that the CLI turns into a one-line message."""


class UserError(Exception):
    """Bad input or environment: shown to the user as one line, exit code 2.

    The message must name what is wrong (a file, field, value or variable) and,
    where there is one, the fix.
    """


class Interrupted(Exception):
    """The user stopped the run (Ctrl-C); partial logs may exist. Exit code 130."""
