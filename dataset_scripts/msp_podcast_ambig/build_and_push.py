#!/usr/bin/env python
"""Build the msp_podcast_ambig dataset from a local msp-podcast release and (optionally) push it to the Hub, privately.

    python dataset_scripts/msp_podcast_ambig/build_and_push.py --data-dir /data/MSP-Podcast --out msp_podcast_ambig \
        [--class-set ...] [--lenient] [--push USER/msp_podcast_ambig] [--public --i-have-a-license]

The entry point of this Hub dataset: exactly `hf-ambiguity build msp-podcast` (every option of
`hf-ambiguity build msp-podcast --help` applies). The dataset card is rendered from README.template.md next to this
file (the package template it links to).
"""

from __future__ import annotations

import sys

from hf_ambiguity.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    return cli_main(["build", "msp-podcast", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
