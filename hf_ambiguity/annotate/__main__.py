"""``python -m hf_ambiguity.annotate`` / ``accelerate launch -m hf_ambiguity.annotate``: the annotate command."""

from __future__ import annotations

import sys

from hf_ambiguity.commands.annotate import main

if __name__ == "__main__":
    sys.exit(main())
