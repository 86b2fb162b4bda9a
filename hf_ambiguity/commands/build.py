"""``hf-ambiguity build iemocap|msp-podcast``: raw corpus release → Hub-layout dataset folder (+ optional push).

    hf-ambiguity build iemocap --data-dir IEMOCAP_full_release --out iemocap_ambig [--class-set paper-4class]
        [--lenient] [--self-evaluations] [--out-of-set share|keep] [--ids-file IDS.txt]
        [--push USER/REPO] [--gated [manual|auto] --i-have-a-license] [--public --i-have-a-license]

Writes ``<out>/data/*.parquet``, ``<out>/README.md`` (the dataset card) and ``<out>/provenance.json``, prints the
closing report (utterances read, skipped and why, class counts, ambiguity counts) and saves it as
``<out>/build_report.json`` and ``<out>/build_report.md``. ``--push`` uploads the folder privately (token from
``HF_TOKEN`` or ``hf auth login``; it is never printed); ``--gated`` makes the repository gated instead (visible
behind an access form in which requesters confirm their own corpus licence; ``manual`` approval by default), and a
public push needs ``--public``; both need ``--i-have-a-license``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

__all__ = ["register", "run_build"]

logger = logging.getLogger(__name__)

def register(subparsers: Any) -> None:
    """Add ``build`` with one sub-command per corpus."""
    parser = subparsers.add_parser("build", help="build a corpus into a Hub-layout dataset with human distributions",
                                   description=__doc__.splitlines()[0])
    corpora = parser.add_subparsers(dest="corpus", metavar="CORPUS", required=True)
    from hf_ambiguity.corpora.selection import DEFAULT_MIN_IN_SET_SHARE, OUT_OF_SET_POLICIES
    from hf_ambiguity.distributions import AMBIGUITY_DEFINITIONS, DEFAULT_AMBIGUITY_CUTS
    from hf_ambiguity.hub.card import GATED_MODES
    from hf_ambiguity.labels import CORPORA

    for corpus, spec in CORPORA.items():
        sets, default = spec.class_sets, spec.default_class_set
        p = corpora.add_parser(corpus, help=f"build {corpus}")
        p.add_argument("--data-dir", required=True, type=Path, help="the raw corpus release folder")
        p.add_argument("--out", required=True, type=Path, help="output folder (Hub layout: data/ + README.md)")
        p.add_argument("--class-set", choices=sets, default=default, help=f"class set (default {default})")
        p.add_argument("--lenient", action="store_true",
                       help="skip bad input and count it in the report instead of stopping at the first problem")
        p.add_argument("--ambiguity", choices=AMBIGUITY_DEFINITIONS, default="reference",
                       help="ambiguity definition: reference (label-list entropy, terciles; default) or fixed "
                            "(entropy / log K with --ambiguity-cuts)")
        p.add_argument("--ambiguity-cuts", nargs=2, type=float, metavar=("LOW", "HIGH"), default=DEFAULT_AMBIGUITY_CUTS,
                       help="cut points of --ambiguity fixed (default %(default)s)")
        p.add_argument("--consensus-in-set", action=argparse.BooleanOptionalAction, default=None,
                       help="keep only utterances whose consensus label is in the class set "
                            "(default: only for paper-4class)")
        p.add_argument("--out-of-set", choices=OUT_OF_SET_POLICIES, default="share",
                       help="utterances with votes outside the class set: share (default) keeps one only when at "
                            "least --min-in-set-share of its valid votes are in the set; keep keeps every utterance "
                            "with an in-set vote (the reference method)")
        p.add_argument("--min-in-set-share", type=float, default=DEFAULT_MIN_IN_SET_SHARE, metavar="SHARE",
                       help="threshold of --out-of-set share, in (0, 1] (default %(default)s)")
        p.add_argument("--ids-file", type=Path, default=None, metavar="PATH",
                       help="keep only the utterances listed in this file (one id per line); ids not in the corpus "
                            "are an error")
        p.add_argument("--no-check-audio", action="store_true",
                       help="do not check that every audio file decodes while reading")
        if corpus == "iemocap":
            p.add_argument("--self-evaluations", action="store_true",
                           help="include the actors' self-evaluations as annotators (default: outside evaluators)")
            p.add_argument("--multi-label", choices=("fractional", "whole"), default="fractional",
                           help="an evaluator naming several emotions: split one vote (default) or one vote each")
        else:
            p.add_argument("--duplicate-workers", choices=("first", "all"), default="first",
                           help="a worker's repeated rows for one file: count the first (default) or all")
            p.add_argument("--partition", action="append", default=[], metavar="VALUE=PARTITION",
                           help="read Split_Set VALUE as PARTITION (Train, Development, Test1, Test2, Test3) or "
                                "leave its files out with VALUE=ignore; repeatable")
        p.add_argument("--cache-dir", type=Path, default=None, help="datasets cache (default: the HF cache)")
        p.add_argument("--overwrite", action="store_true", help="replace data/ and README.md of a non-empty --out")
        p.add_argument("--push", metavar="REPO_ID", default=None,
                       help="upload to this Hub dataset repo (private unless --gated or --public)")
        p.add_argument("--gated", nargs="?", const="manual", choices=GATED_MODES, default=None,
                       help="make the pushed repo gated: visible behind an access form asking for the requester's "
                            "corpus licence; manual (default) = you approve each request, auto = approved once the "
                            "form is filled in (needs --i-have-a-license)")
        p.add_argument("--public", action="store_true", help="make the pushed repo public (needs --i-have-a-license)")
        p.add_argument("--i-have-a-license", dest="license_acknowledged", action="store_true",
                       help="acknowledge that your corpus licence allows sharing the data (gated: with other "
                            "licence holders; public: with everyone)")
        p.set_defaults(func=run_build)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {"strict": not args.lenient, "ambiguity": args.ambiguity,
                            "ambiguity_cuts": tuple(args.ambiguity_cuts), "check_audio": not args.no_check_audio,
                            "out_of_set": args.out_of_set, "min_in_set_share": args.min_in_set_share}
    if args.ids_file is not None:
        opts["ids_file"] = str(args.ids_file)
    if args.consensus_in_set is not None:
        opts["consensus_in_set"] = args.consensus_in_set
    if args.corpus == "iemocap":
        opts.update(include_self_evaluations=args.self_evaluations, multi_label=args.multi_label)
    else:
        opts.update(duplicate_workers=args.duplicate_workers)
        if args.partition:
            opts["partitions"] = _partitions(args.partition)
    return opts


def _partitions(items: list[str]) -> dict[str, str]:
    """``["NA=Train", "Extra=ignore"]`` → ``{"NA": "Train", "Extra": "ignore"}``; a malformed item is a
    ``ValueError`` naming the flag."""
    out = {}
    for item in items:
        value, sep, target = item.partition("=")
        if not sep or not value.strip() or not target.strip():
            raise ValueError(f"--partition {item!r}: expected VALUE=PARTITION, e.g. NA=Train or NA=ignore")
        out[value.strip()] = target.strip()
    return out


def _fail(message: str, code: int = 1) -> int:
    logger.error(f"hf-ambiguity build: error: {message}")
    return code


def run_build(args: argparse.Namespace) -> int:
    """Build, export, report, and optionally push. Returns the exit code (0 ok, 1 bad input, 2 bad usage)."""
    from hf_ambiguity.builders import build_dataset
    from hf_ambiguity.corpora import CorpusFormatError
    from hf_ambiguity.corpora.msp_podcast import partition_map
    from hf_ambiguity.corpora.selection import OutOfSetPolicy
    from hf_ambiguity.distributions import AmbiguityDefinition
    from hf_ambiguity.hub import LicenseNotAcknowledgedError, export_to_hub_layout, push_dataset

    if args.public and not args.push:
        return _fail("--public only applies to --push REPO_ID", 2)
    if args.public and args.gated:
        return _fail("--public and --gated contradict each other: a gated repository is visible behind its access "
                     "form; pass one of them", 2)
    if args.push and args.public and not args.license_acknowledged:
        return _fail(f"refusing a public push of licensed {args.corpus} data; keep the default private push, or add "
                     "--i-have-a-license if your licence allows a public release", 2)
    if args.push and args.gated and not args.license_acknowledged:
        return _fail(f"refusing a gated push of licensed {args.corpus} data: everyone whose access request is "
                     "approved can download it; add --i-have-a-license if your licence allows sharing it with other "
                     "licence holders, or keep the default private push", 2)
    try:  # before any reading: a bad cut point would otherwise surface as a traceback from inside datasets
        AmbiguityDefinition(args.ambiguity, tuple(args.ambiguity_cuts))
    except ValueError as err:
        return _fail(f"--ambiguity-cuts: {err}", 2)
    try:
        OutOfSetPolicy(args.out_of_set, args.min_in_set_share)
        options = _options(args)
        if "partitions" in options:
            partition_map(options["partitions"])
    except ValueError as err:
        return _fail(str(err).replace("min_in_set_share", "--min-in-set-share"), 2)
    if args.ids_file is not None and not args.ids_file.is_file():
        return _fail(f"--ids-file {str(args.ids_file)!r} does not exist", 2)
    out: Path = args.out
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        return _fail(f"{out} is not empty; pass --overwrite to replace its data/ and README.md, or choose another "
                     "--out", 2)
    import datasets

    quiet = args.no_progress and not datasets.utils.are_progress_bars_disabled()
    if quiet:  # --no-progress also silences the "Generating ... split" bars of datasets
        datasets.disable_progress_bars()
    try:
        dsdict, report = build_dataset(args.corpus, args.data_dir, class_set=args.class_set,
                                       cache_dir=args.cache_dir, progress=args.progress, **options)
    except CorpusFormatError as err:
        return _fail(str(err))
    finally:
        if quiet:
            datasets.enable_progress_bars()
    export = export_to_hub_layout(dsdict, out, card_info=report.card_info(), overwrite=args.overwrite,
                                  progress=args.progress, gated=args.gated)
    markdown = report.as_markdown()
    (out / "build_report.md").write_text(markdown, encoding="utf-8")
    (out / "build_report.json").write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    print(markdown)
    print(f"Wrote {sum(export.num_rows.values())} utterances to {out} (load with datasets.load_dataset"
          f"({str(out)!r})); report saved as build_report.json / build_report.md")
    if args.push:
        try:
            result = push_dataset(out, args.push, private=None if args.gated else not args.public, gated=args.gated,
                                  license_acknowledged=args.license_acknowledged, licensed=True)
        except (LicenseNotAcknowledgedError, RuntimeError) as err:
            return _fail(str(err))
        access = f"gated, {result.gated} approval" if result.gated else "private" if result.private else "public"
        print(f"Pushed to https://huggingface.co/datasets/{result.repo_id} ({access}): {result.commit_url}")
    return 0
