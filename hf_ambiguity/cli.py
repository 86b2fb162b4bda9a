"""The ``hf-ambiguity`` command line: one sub-command per module in :mod:`hf_ambiguity.commands`.

Each module there defines ``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed
arguments, returning an exit code). Sub-commands are discovered, so adding one never edits this file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence

from hf_ambiguity import __version__, commands


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every discovered sub-command."""
    parser = argparse.ArgumentParser(prog="hf-ambiguity", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"hf-ambiguity {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
