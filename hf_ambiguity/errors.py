"""Structured errors shared by every floor of the package.

Each error carries the place of the problem as data (a file and line, a row, a config key), so callers can react to
it without parsing message text, and its message names that place and says what to do.
"""

from __future__ import annotations

__all__ = ["CorpusFormatError", "ConfigError", "DataError", "DistributionError", "SplitError"]


class CorpusFormatError(ValueError):
    """The corpus on disk does not have the expected layout or content. The message names the file (and line) and
    says what to do; ``lenient`` reading (``strict=False``) skips and counts such input instead."""


class ConfigError(ValueError):
    """A configuration that cannot be used. The message names the source (file), the dotted key, the value received
    and what is valid; ``key`` holds the dotted key when one key is at fault."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class DataError(ValueError):
    """Data that cannot be used as asked (a missing column, an empty split, a bad row); the message says which
    split / column / row and what to do."""


class DistributionError(DataError):
    """A row of a vote or distribution table is invalid. ``row`` is its index in the table, ``reason`` says why
    (e.g. ``"does not sum to 1 (tolerance 0.0001)"``) and ``name`` names the table, so callers can point at the
    dataset row without parsing the message."""

    def __init__(self, row: int, reason: str, *, name: str = "distribution", values: list | None = None) -> None:
        detail = f": {values}" if values is not None else ""
        super().__init__(f"{name} row {row} {reason}{detail}")
        self.row, self.reason, self.name = row, reason, name


class SplitError(DataError):
    """A train / validation / test split cannot be made as asked (e.g. the held-out session is absent)."""
