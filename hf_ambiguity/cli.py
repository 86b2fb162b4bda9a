"""The ``hf-ambiguity`` command line: one sub-command per module in ``hf_ambiguity.commands``.

Each module there defines ``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed
arguments, returning an exit code). Sub-commands are discovered, so adding one never edits this file. Every
sub-command gets the same output options (``--no-progress``, ``-q/--quiet``, ``-v/--verbose``; ``TQDM_DISABLE=1`` is
honoured), messages go through ``logging`` to stderr, and help texts are plain text.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from typing import Iterator, Sequence

from hf_ambiguity import __version__, commands
from hf_ambiguity.commands import add_common_options, apply_common_options, plain_text


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every discovered sub-command, each with the common output options."""
    parser = argparse.ArgumentParser(prog="hf-ambiguity", description=plain_text(__doc__.splitlines()[0]))
    parser.add_argument("--version", action="version", version=f"hf-ambiguity {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    for leaf in _leaf_parsers(parser):
        add_common_options(leaf)
    for each in _all_parsers(parser):
        _plain_help(each)
    return parser


def _subparser_actions(parser: argparse.ArgumentParser) -> list[argparse._SubParsersAction]:
    return [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]


def _all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in _subparser_actions(parser):
        for child in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
            yield from _all_parsers(child)


def _leaf_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parsers that run something (no sub-commands of their own), below the top level."""
    for each in _all_parsers(parser):
        if each is not parser and not _subparser_actions(each):
            yield each


def _plain_help(parser: argparse.ArgumentParser) -> None:
    """Strip reStructuredText markup from a parser's description, epilog and option help."""
    parser.description = plain_text(parser.description)
    parser.epilog = plain_text(parser.epilog)
    for action in parser._actions:
        action.help = plain_text(action.help) if isinstance(action.help, str) else action.help
        for choice in getattr(action, "_choices_actions", ()):
            choice.help = plain_text(choice.help)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    apply_common_options(args)
    logging.getLogger("hf_ambiguity").debug(
        f"hf-ambiguity {__version__}, {sys.executable}: {args.command} "
        + " ".join(f"{k}={v!r}" for k, v in sorted(vars(args).items()) if k not in ("func", "command")))
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
