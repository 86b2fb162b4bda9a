"""Sub-commands of the ``hf-ambiguity`` CLI; each module defines ``register(subparsers)``.

What every sub-command shares lives here: the output options (``--no-progress``, ``-q/--quiet``, ``-v/--verbose``),
added to every sub-command by :mod:`hf_ambiguity.cli`; the logging set-up they select (messages go through
``logging`` to stderr; results and reports go to stdout); help texts without Sphinx markup; and where a command's
input dataset comes from and where its output goes by default.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_common_options", "apply_common_options", "configure_logging", "plain_text", "default_output",
           "COMMON_OPTIONS"]

#: The output options every sub-command has.
COMMON_OPTIONS = ("--no-progress", "--quiet", "--verbose")

_HANDLER_NAME = "hf-ambiguity-cli"


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--no-progress``, ``-q/--quiet`` and ``-v/--verbose`` to ``parser`` (once)."""
    if any("--no-progress" in a.option_strings for a in parser._actions):
        return
    group = parser.add_argument_group("output")
    group.add_argument("--no-progress", action="store_true",
                       help="no progress bars (TQDM_DISABLE=1 in the environment does the same)")
    group.add_argument("-q", "--quiet", action="store_true",
                       help="only warnings and errors on stderr, no progress bars")
    group.add_argument("-v", "--verbose", action="store_true", help="also debug messages")


def apply_common_options(args: argparse.Namespace) -> argparse.Namespace:
    """Configure logging from ``--quiet`` / ``--verbose`` and set ``args.progress`` (False with ``--no-progress``,
    ``--quiet`` or ``TQDM_DISABLE=1``); with bars off, datasets' and huggingface_hub's bars are off too."""
    from hf_ambiguity.progress import progress_enabled

    quiet, verbose = getattr(args, "quiet", False), getattr(args, "verbose", False)
    configure_logging(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    args.progress = progress_enabled(not (getattr(args, "no_progress", False) or quiet))
    if not args.progress:
        try:
            import datasets
            import huggingface_hub.utils

            datasets.disable_progress_bars()
            huggingface_hub.utils.disable_progress_bars()
        except ImportError:  # pragma: no cover - both are dependencies
            pass
    return args


class _StderrHandler(logging.StreamHandler):
    """Writes to the current ``sys.stderr`` (so redirected or captured stderr gets the messages)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ assigns it
        pass


def configure_logging(level: int = logging.INFO) -> None:
    """Send the ``hf_ambiguity`` loggers' messages at ``level`` and above to stderr, plain (``message``;
    warnings as ``warning: message``). Idempotent: a second call replaces the first handler."""
    logger = logging.getLogger("hf_ambiguity")
    for handler in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(_Formatter())
    logger.addHandler(handler)
    logger.setLevel(level)  # records still propagate: an application's (or pytest's) root handlers see them too


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno == logging.WARNING:
            return f"warning: {message}"
        if record.levelno == logging.DEBUG:
            return f"debug: {message}"
        return message


_ROLE = re.compile(r":(?:py:)?(?:func|mod|class|meth|attr|data|obj|exc):`~?([^`]+)`")


def plain_text(text: str | None) -> str | None:
    """``text`` without reStructuredText markup, for ``--help``: ``:func:`~a.b.c``` → ``c``, ````x```` → ``x``.

    >>> plain_text("``hf-ambiguity augment``: see :func:`hf_ambiguity.splits.make_splits` and :class:`~a.B`")
    'hf-ambiguity augment: see hf_ambiguity.splits.make_splits and B'
    """
    if not text:
        return text
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1] if m.group(0).count("~") else m.group(1), text)
    return text.replace("``", "")


def default_output(source: str, suffix: str) -> Path:
    """The default output folder of a command reading ``source``: ``<folder>-<suffix>`` next to a local folder,
    ``./<name>-<suffix>`` for a Hub id ``namespace/name``.

    >>> default_output("someuser/iemocap-ambig", "annotated").as_posix()
    'iemocap-ambig-annotated'
    """
    path = Path(source).expanduser()
    if path.is_dir():
        resolved = path.resolve()
        return resolved.parent / f"{resolved.name}-{suffix}"
    return Path(f"{source.rstrip('/').rsplit('/', 1)[-1]}-{suffix}")
