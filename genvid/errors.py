"""The one family of errors that reach a user as one line (the CLI prints them without a traceback).

Every mistake a user can fix (a missing or unreadable file, a wrong shape, a bad config value, an
option out of range) raises :class:`GenvidError` or a subclass. It is a ``ValueError``, so code that
already catches ``ValueError`` keeps working. The older names stay importable for saved code:
``genvid.cli.UserError`` is this class and ``genvid.config.ConfigError`` is the subclass below.
"""


class GenvidError(ValueError):
    """Bad input or a missing file: the message says what and where."""

    user_facing = True


class ConfigError(GenvidError):
    """A config that cannot be used as written; the message names the key or file."""


#: the name ``genvid.cli`` used before the family was one (kept for saved code)
UserError = GenvidError


def plural(count: int, noun: str) -> str:
    """``1 frame``, ``2 frames``: counts in messages read as a person would write them."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
