#!/usr/bin/env python
"""Build the msp_podcast_ambig dataset from a local msp-podcast release and (optionally) push it to the Hub, privately.

    python dataset_scripts/msp_podcast_ambig/build_and_push.py --data-dir /data/MSP-Podcast --out msp_podcast_ambig \
        [--class-set msp-8] [--lenient] [--push USER/msp_podcast_ambig] [--public --i-have-a-license]

A thin entry point over `hf-ambiguity build msp-podcast` (same options, see `hf-ambiguity build msp-podcast --help`);
the dataset card is rendered from README.template.md next to this file (the package template
hf_ambiguity/templates/msp_podcast_ambig.md). Class sets: msp-8, msp-4.
"""

from __future__ import annotations

import argparse
import sys

from hf_ambiguity.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="the msp-podcast release folder")
    parser.add_argument("--out", required=True, help="output folder in the Hub layout")
    parser.add_argument("--class-set", default="msp-8", help="class set (msp-8, msp-4)")
    parser.add_argument("--push", metavar="REPO_ID", help="push to this Hub dataset repo (private by default)")
    parser.add_argument("--public", action="store_true", help="public repo (needs --i-have-a-license)")
    parser.add_argument("--i-have-a-license", action="store_true",
                        help="acknowledge that your licence allows a public release")
    args, passthrough = parser.parse_known_args(argv)
    cmd = ["build", "msp-podcast", "--data-dir", args.data_dir, "--out", args.out, "--class-set", args.class_set]
    if args.push:
        cmd += ["--push", args.push]
    if args.public:
        cmd.append("--public")
    if args.i_have_a_license:
        cmd.append("--i-have-a-license")
    return cli_main(cmd + passthrough)  # --lenient, --self-evaluations, --overwrite, ... go through as is


if __name__ == "__main__":
    sys.exit(main())
