"""Structured errors shared by every floor of the package.

Each error carries the place of the problem as data (a file and line, a row, a config key), so callers can react to
it without parsing message text, and its message names that place and says what to do.
"""

from __future__ import annotations

__all__ = ["CorpusFormatError"]


class CorpusFormatError(ValueError):
    """The corpus on disk does not have the expected layout or content. The message names the file (and line) and
    says what to do; ``lenient`` reading (``strict=False``) skips and counts such input instead."""
