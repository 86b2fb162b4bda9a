"""Command-line entry of distribution fine-tuning: ``accelerate launch -m hf_ambiguity.training.train ...``.

``hf-ambiguity train`` launches this module (and passes its exit status on); ``examples/train.py`` is the same run
written out as an explicit loop. ``--help`` lists the options. Exit status 0 on success, 2 on bad input or a launch
that cannot work (one clear message on stderr, from the first process only, before any training starts).
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

__all__ = ["main", "USER_ERRORS", "report_user_error"]


def _user_errors() -> tuple[type[BaseException], ...]:
    from hf_ambiguity.distributed import LaunchError
    from hf_ambiguity.errors import ConfigError, DataError
    from hf_ambiguity.training.checkpoints import CheckpointMismatchError

    return DataError, ConfigError, CheckpointMismatchError, FileNotFoundError, LaunchError


USER_ERRORS = _user_errors()


def report_user_error(err: BaseException) -> int:
    """Print ``err`` once (on the first process of a launch) and return the exit status 2."""
    if os.environ.get("RANK", "0") == "0":
        print(f"error: {err}", file=sys.stderr, flush=True)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    from hf_ambiguity.training.config import parse_args
    from hf_ambiguity.training.loop import train

    cfg = parse_args(argv)
    try:
        train(cfg)
    except USER_ERRORS as err:
        return report_user_error(err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
