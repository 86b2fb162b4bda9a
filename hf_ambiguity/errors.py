"""Structured errors shared by every floor of the package.

Each error carries the place of the problem as data (a file and line, a row, a config key), so callers can react to
it without parsing message text, and its message names that place and says what to do.
"""

from __future__ import annotations

__all__ = ["CorpusFormatError", "ConfigError"]


class CorpusFormatError(ValueError):
    """The corpus on disk does not have the expected layout or content. The message names the file (and line) and
    says what to do; ``lenient`` reading (``strict=False``) skips and counts such input instead."""


class ConfigError(ValueError):
    """A configuration that cannot be used. The message names the source (file), the dotted key, the value received
    and what is valid; ``key`` holds the dotted key when one key is at fault."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key
