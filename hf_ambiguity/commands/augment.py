"""``hf-ambiguity augment DATASET``: DiME-Aug top-up of a dataset's training split, exported in the Hub layout.

    hf-ambiguity augment iemocap_ambig --target-column human_dist [--ratio 0.3] [--out iemocap_ambig-augmented]
        [--split train] [--protocol auto|none|random|speaker] [--balance-by class|class_ambiguity] [--k 3] [--seed 0]
        [--validation-fraction 0.1]
        [--top-up reference --neighbours reference --transcript-from anchor --features reference
         --dominant-ties alphabetical]   # the authors' DiME rules

``DATASET`` is a Hub dataset id, a folder ``datasets.load_dataset`` reads (e.g. the output of ``hf-ambiguity build``)
or a ``save_to_disk`` folder (e.g. the output of ``hf-ambiguity annotate``). With ``--protocol auto`` (default) its own
splits are used when it has the ``--split`` split (``train``), and otherwise train/test splits are made the way
training does with the speaker-independent protocol (IEMOCAP session 5 held out, MSP-Podcast partitions);
``--protocol random`` makes the reference random 80/20 utterance split (seed 42), ``--protocol none`` insists on the
dataset's own splits (:func:`hf_ambiguity.splits.make_splits`). Train the result with ``--split dataset``. When there is no ``validation`` split, one is taken out of ``--split`` first
(``--validation-fraction``, seed ``--validation-seed``), so that validation rows are never DiME-Aug sources; other
splits (test) are copied unchanged, with the provenance columns of original rows.
Writes ``<out>/data/*.parquet`` + ``README.md`` + ``provenance.json`` (the card gains a ``dime-aug`` provenance
block; ``--out`` defaults to ``<DATASET>-augmented`` next to a local folder, ``./<name>-augmented`` for a Hub id), and
``augment_report.json`` / ``augment_report.md`` (per-group counts, shortfall, skipped rows and, when there is a test
split, the composition of its balanced evaluation view).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from hf_ambiguity.commands import default_output

__all__ = ["register", "run_augment"]

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the ``augment`` sub-command."""
    p = subparsers.add_parser("augment", help="DiME-Aug: top up under-represented emotions of the training split",
                              description=__doc__.splitlines()[0])
    p.add_argument("dataset", metavar="DATASET",
                   help="Hub dataset id, or a folder datasets.load_dataset or load_from_disk reads")
    p.add_argument("--target-column", required=True,
                   help="distribution column to balance on and interpolate (e.g. human_dist, combined_dist)")
    p.add_argument("--out", type=Path, help="output folder, Hub layout: data/ + README.md (default: DATASET-augmented "
                                         "next to a local folder, ./NAME-augmented for a Hub id)")
    p.add_argument("--ratio", type=float, default=0.30,
                   help="top up every group below RATIO x the largest group's count (default 0.30)")
    p.add_argument("--k", type=int, default=3, help="nearest neighbours to interpolate with (default 3)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the pairs and alphas (default 0)")
    p.add_argument("--split", default="train", help="the split to augment (default train)")
    p.add_argument("--protocol", choices=("auto", "none", "random", "speaker"), default="auto",
                   help="train/test splits: auto (default) = the dataset's own when it has the --split split, else "
                        "speaker; none = the dataset's own; random = the reference 80/20 split by utterance; "
                        "speaker = IEMOCAP leave-one-session-out or MSP-Podcast partitions, as training does")
    p.add_argument("--test-fraction", type=float, default=0.2, help="test share of --protocol random (default 0.2)")
    p.add_argument("--split-seed", type=int, default=42, help="seed of --protocol random (default 42)")
    p.add_argument("--test-session", type=int, default=5, help="IEMOCAP test session of --protocol speaker")
    p.add_argument("--test-partition", default="Test1", help="MSP-Podcast test partition of --protocol speaker")
    p.add_argument("--balance-by", choices=("class", "class_ambiguity"), default="class",
                   help="groups to balance: dominant emotion (reference, default) or emotion x ambiguity level")
    # the authors' DiME rules (hf_ambiguity.augment.dime.REFERENCE_OPTIONS; the paper preset turns them all on)
    p.add_argument("--top-up", choices=("ceil", "reference"), default="ceil",
                   help="target per group: ceil(RATIO x largest) for every group (default), or the reference's "
                        "int(RATIO x largest) for the groups present")
    p.add_argument("--neighbours", choices=("project", "reference"), default="project",
                   help="partner among the k nearest other sources (default), or the reference's query "
                        "(k nearest including the source itself, first hit dropped: k-1 neighbours)")
    p.add_argument("--transcript-from", choices=("alpha", "anchor"), default="alpha",
                   help="transcript of a new row: the source weighted less when alpha < 0.5 (default), or always "
                        "the anchor's (reference)")
    p.add_argument("--features", choices=("project", "reference"), default="project",
                   help="neighbour features: the project's text statistics (default), or the reference's ten "
                        "statistics and 0.5 s padding")
    p.add_argument("--dominant-ties", choices=("class_order", "alphabetical"), default="class_order",
                   help="class a tied target counts for: first in class order (default) or by name (reference)")
    p.add_argument("--validation-fraction", type=float, default=0.1,
                   help="when DATASET has no validation split, take this fraction of --split out first "
                        "(default 0.1; 0 = none)")
    p.add_argument("--validation-seed", type=int, default=42, help="seed of that split (default 42)")
    p.add_argument("--audio-column", default="audio", help="Audio column (default audio)")
    p.add_argument("--transcript-column", default="transcript",
                   help="transcript column (default transcript; absent: text features are zero)")
    p.add_argument("--num-proc", type=int, default=1,
                   help="processes extracting the audio features (default 1; the output does not depend on it)")
    p.add_argument("--lenient", action="store_true",
                   help="skip rows with invalid distributions as sources and count them instead of stopping")
    p.add_argument("--overwrite", action="store_true", help="replace data/ and README.md of a non-empty --out")
    p.set_defaults(func=run_augment)


def _dime_options(args: argparse.Namespace) -> dict[str, str]:
    """The reference-related DiME-Aug options from the command line."""
    return {"top_up": args.top_up, "neighbours": args.neighbours, "transcript_from": args.transcript_from,
            "features": args.features, "dominant_ties": args.dominant_ties}


def _fail(message: str, code: int = 1) -> int:
    logger.error(f"hf-ambiguity augment: error: {message}")
    return code


def _card_info(source: str, dsdict: Any) -> Any:
    """The input's card information, or (for a dataset not exported by hf-ambiguity, e.g. a save_to_disk folder or
    a Hub id) one made from its columns; then the provenance recorded on the dataset (synthetic annotators, merge)
    that the card does not have yet, local paths made relative to the working directory."""
    from hf_ambiguity.hub.card import add_provenance_to_card, read_card_info

    first = next(iter(dsdict.values()))
    info = None
    if Path(source).is_dir():
        try:
            info = read_card_info(source)
        except (FileNotFoundError, ValueError):
            info = None
    if info is None:
        info = _card_info_from_columns(source, first)
    return add_provenance_to_card(info, first, base=Path.cwd())


def _card_info_from_columns(source: str, first: Any) -> Any:
    from hf_ambiguity.hub.card import make_card_info
    from hf_ambiguity.labels import CLASS_SETS

    corpora = set(first.select_columns(["corpus"]).with_format("arrow")[:]["corpus"].to_pylist()) \
        if "corpus" in first.column_names else set()
    if len(corpora) != 1:
        raise ValueError(f"{source} has no hf-ambiguity dataset card and no single `corpus` value ({sorted(corpora)}),"
                         " so the card cannot be written; build the dataset with `hf-ambiguity build`")
    corpus = corpora.pop()
    names = tuple(getattr(first.features.get("majority_label"), "names", ()) or ())
    class_set = next((cs.name for cs in CLASS_SETS.values() if cs.corpus == corpus and cs.names == names), "custom")
    return make_card_info(corpus, class_set)


def run_augment(args: argparse.Namespace) -> int:
    """Load, split off validation, augment, export, report. Returns 0 ok, 1 bad input, 2 bad usage."""
    import datasets

    from hf_ambiguity.augment import dime_aug, mark_originals
    from hf_ambiguity.splits import make_splits, split_train_validation
    from hf_ambiguity.augment.balanced_eval import balanced_eval_view
    from hf_ambiguity.hub.card import add_provenance
    from hf_ambiguity.hub import export_to_hub_layout
    from hf_ambiguity.hub.load import load_dataset_dict

    out: Path = args.out or default_output(args.dataset, "augmented")
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        return _fail(f"{out} is not empty; pass --overwrite to replace its data/ and README.md, or choose another "
                     "--out", 2)
    if Path(args.dataset).is_dir() and out.resolve() == Path(args.dataset).resolve():
        return _fail("--out must differ from DATASET (the input would be overwritten while it is read)", 2)
    if not 0.0 <= args.validation_fraction < 1.0:
        return _fail(f"--validation-fraction must be in [0, 1), got {args.validation_fraction}", 2)
    try:
        dsdict = load_dataset_dict(args.dataset, what="DATASET")
    except FileNotFoundError as err:
        return _fail(str(err), 2)
    loaded = dsdict
    if not args.out:
        logger.info(f"writing to {out} (pass --out to choose)")
    protocol = "the dataset's own splits"
    kind = args.protocol
    if kind == "auto":
        kind = "none" if args.split in dsdict or args.split != "train" else "speaker"
        if kind == "speaker":
            logger.info(f"{args.dataset} has no {args.split!r} split (splits: {list(dsdict)}): making train/test "
                        "splits with --protocol speaker (pass --protocol random for the reference's 80/20 split)")
    if kind != "none":
        try:
            parts, protocol = make_splits(dsdict, kind=kind, test_fraction=args.test_fraction,
                                          seed=args.split_seed, test_session=args.test_session,
                                          test_partition=args.test_partition)
        except ValueError as err:
            hint = " (or --protocol random)" if args.protocol == "auto" else ""
            return _fail(f"{err}{hint}", 2)
        dsdict = datasets.DatasetDict(parts)
        logger.info(f"Splits: {protocol}.")
    if args.split not in dsdict:
        return _fail(f"split {args.split!r} is not in {args.dataset} (splits: {list(dsdict)}); pass --split, or "
                     "--protocol random|speaker to make train/test splits first", 2)
    train = dsdict[args.split]
    result = dict(dsdict)
    took_validation = False
    if "validation" not in dsdict and args.validation_fraction > 0:
        parts = split_train_validation(train, args.validation_fraction, seed=args.validation_seed)
        train, result["validation"] = parts["train"], parts["validation"]
        took_validation = True
        logger.info(f"Took {len(parts['validation'])} rows of {args.split!r} out as 'validation' before "
                    f"augmentation (fraction {args.validation_fraction}, seed {args.validation_seed}).")
    try:
        augmented, report = dime_aug(
            train, args.target_column, ratio=args.ratio, k=args.k, seed=args.seed, balance_by=args.balance_by,
            audio_column=args.audio_column, transcript_column=args.transcript_column, lenient=args.lenient,
            num_proc=args.num_proc, progress=args.progress, **_dime_options(args))
    except (ValueError, TypeError) as err:
        return _fail(str(err))
    for name in result:  # the other splits stay real: provenance columns say so (one schema for all splits)
        if name != args.split:
            result[name] = mark_originals(result[name], audio_column=args.audio_column)
    result[args.split] = augmented
    dsdict_out = datasets.DatasetDict(result)

    markdown = report.to_markdown()
    composition = ""
    if "test" in dsdict_out and args.target_column in dsdict_out["test"].column_names:
        by = ("class", "ambiguity") if "ambiguity" in dsdict_out["test"].column_names else ("class",)
        try:
            composition = balanced_eval_view(dsdict_out["test"], args.target_column, seed=args.seed, by=by).composition
        except ValueError as err:
            composition = f"(balanced evaluation view not available: {err})\n"
        markdown += "\n### Balanced evaluation view of the test split\n\n" + composition
    block = {"options": {"protocol": kind, "splits": protocol, "split": args.split,
                         "target_column": args.target_column, "ratio": args.ratio, "k": args.k,
                         "seed": args.seed, "balance_by": args.balance_by, "lenient": args.lenient,
                         "validation_taken_out": took_validation, "validation_fraction": args.validation_fraction,
                         "validation_seed": args.validation_seed, **_dime_options(args)},
             "report": report.to_dict(), "balanced_eval_composition": composition}
    try:
        card = add_provenance(_card_info(args.dataset, loaded), "dime-aug", block)
    except ValueError as err:
        return _fail(str(err))
    export = export_to_hub_layout(dsdict_out, out, card_info=card, overwrite=args.overwrite,
                                  progress=args.progress)
    (out / "augment_report.md").write_text(markdown, encoding="utf-8")
    (out / "augment_report.json").write_text(json.dumps({**block, "composition_markdown": composition}, indent=2),
                                             encoding="utf-8")
    print(markdown)
    print(f"Wrote {sum(export.num_rows.values())} rows ({report.n_generated} new) to {out} (load with "
          f"datasets.load_dataset({str(out)!r})); report saved as augment_report.json / augment_report.md")
    return 0
