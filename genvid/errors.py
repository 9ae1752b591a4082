"""Errors that reach a user as one line (the CLI prints them without a traceback)."""


class GenvidError(ValueError):
    """Bad input or a missing file: the message says what and where."""

    user_facing = True
