"""Command-line entry of distribution fine-tuning: ``accelerate launch -m hf_ambiguity.training.train ...``.

Same options as ``examples/train.py`` (which only calls :func:`main`); ``--help`` lists them. Exit status 0 on
success, 2 on bad input (a clear message on stderr, before any training starts).
"""

from __future__ import annotations

import sys
from typing import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    from hf_ambiguity.training.checkpoints import CheckpointMismatchError
    from hf_ambiguity.training.config import parse_args
    from hf_ambiguity.errors import DataError
    from hf_ambiguity.training.loop import train

    cfg = parse_args(argv)
    try:
        train(cfg)
    except (DataError, CheckpointMismatchError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
