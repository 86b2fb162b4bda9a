"""Reader for MSP-Podcast: every worker's primary vote, from the label files of the release the user holds.

Corpus: R. Lotfian and C. Busso, "Building naturalistic emotionally balanced speech corpus by retrieving emotional
speech from existing podcast recordings", IEEE Transactions on Affective Computing 10(4), 2019. Licensed by UT
Dallas MSP lab; never redistribute it (push built datasets privately).

Layout read (``data_dir`` is the release folder)::

    Audios/<FileName>                  # MSP-PODCAST_0001_0001.wav
    Labels/labels_consensus.csv        # FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set
    Labels/labels_detailed.csv         # one row per worker and file
    Transcripts/<stem>.txt             # optional

The label files come in several layouts (CSV with ``EmoDetail``, CSV with one column per field as in release 2.0,
JSON), detected from the files: see :mod:`hf_ambiguity.corpora.msp_labels`. Each worker's answer has a worker id,
a primary emotion (``Other-<free text>`` for 'other') and secondary emotions (comma-separated, possibly empty).
The **primary** answer of each worker is one vote; secondary answers are kept as written in ``secondary_answers``
(their vocabulary is wider than the primary classes, and the reference method uses primary labels only); a
secondary-only emotion (``Excited``, ``Frustrated``, ...) given as a primary answer is flagged as an error (strict)
or skipped and counted (lenient). ``other_text`` holds the free text of ``Other-...`` primaries.

Duplicate workers: the release has files where the same worker id appears on two rows. By default
(``duplicate_workers="first"``) only the worker's first row counts, so one person never weighs twice in a
distribution; the later rows are counted in the report (``duplicate worker rows dropped``). ``"all"`` keeps
every row as a separate vote.

Splits: ``Split_Set`` as written (Train / Development / Test1 / Test2 / Test3; the older name ``Validation`` is read
as ``Development``). Any other value (e.g. ``NA`` in a corpus made in MSP style) is an error in strict mode and a
counted skip in lenient mode, unless ``partitions`` maps it onto an official partition or to ``"ignore"`` (those
files are then left out and counted). Test3's labels are hidden in the release, so its files have no votes: they
are skipped and counted as ``no labels (Test3)``; any other file without worker rows is skipped as
``no worker labels``. A ``FileName`` that leaves ``Audios/`` (``../x.wav``, an absolute path) is refused.
Speaker ids are kept as written (``Unknown`` included); gender is ``female`` / ``male`` / ``unknown``.

Selection (``ids_file``, ``consensus_in_set``, ``out_of_set``): see :mod:`hf_ambiguity.corpora.selection`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Literal, Mapping

from hf_ambiguity.corpora.audio_check import audio_problem
from hf_ambiguity.corpora.msp_labels import (
    DETAILED_LAYOUTS,
    LabelFiles,
    find_label_files,
    is_other,
    other_text,
    parse_emo_detail,
    read_consensus,
    read_detailed,
)
from hf_ambiguity.corpora.report import CHECK_AUDIO_HINT, ReadResult, ReportBuilder
from hf_ambiguity.corpora.rows import Pending, finish_rows, map_or_fail
from hf_ambiguity.corpora.selection import (
    DEFAULT_MIN_IN_SET_SHARE,
    NOT_LISTED,
    IdSelection,
    OutOfSetPolicy,
    finish_id_selection,
    selection_counts,
)
from hf_ambiguity.corpora.text import decode_text, read_bytes, unreadable_message
from hf_ambiguity.distributions import DEFAULT_AMBIGUITY_CUTS, AmbiguityDefinition
from hf_ambiguity.errors import CorpusFormatError
from hf_ambiguity.labels import get_class_set, normalise_spelling

__all__ = ["read_msp_podcast", "MSP_COLUMNS", "SPLITS", "parse_emo_detail", "DETAILED_LAYOUTS", "PARTITION_IGNORE",
           "partition_map"]

#: The columns of an MSP-Podcast row, in order (see :mod:`hf_ambiguity.schema`).
MSP_COLUMNS = (
    "id", "corpus", "split", "speaker", "gender", "audio", "transcript",
    "consensus_label", "consensus_class", "valence", "activation", "dominance",
    "annotators", "raw_answers", "other_text", "secondary_answers",
    "human_labels", "human_votes", "human_dist", "n_annotators", "n_dropped_labels", "in_set_share", "entropy",
    "ambiguity", "majority_label", "has_majority",
)
#: Official partitions, in order.
SPLITS = ("Train", "Development", "Test1", "Test2", "Test3")
#: The ``partitions`` value that leaves a partition's files out.
PARTITION_IGNORE = "ignore"
_SPLIT_ALIASES = {"validation": "Development", **{s.lower(): s for s in SPLITS}}
#: The emotions a worker can give as a primary answer (the secondary vocabulary is wider).
_PRIMARY_EMOTIONS = frozenset({"angry", "sad", "happy", "surprise", "fear", "disgust", "contempt", "neutral", "other"})


def partition_map(partitions: Mapping[str, str | None] | None) -> dict[str, str | None]:
    """``Split_Set`` value (lower case) → official partition, or None for "leave these files out"; a target that
    is neither a partition nor ``"ignore"`` is a ``ValueError``."""
    out: dict[str, str | None] = dict(_SPLIT_ALIASES)
    for raw, target in (partitions or {}).items():
        key = str(raw).strip().lower()
        if target is None or str(target).strip().lower() == PARTITION_IGNORE:
            out[key] = None
            continue
        official = _SPLIT_ALIASES.get(str(target).strip().lower())
        if official is None:
            raise ValueError(f"partitions: {raw!r} is mapped to {target!r}; map it to one of {list(SPLITS)} or to "
                             f"{PARTITION_IGNORE!r} (--partition {raw}=Train / corpus.partitions)")
        out[key] = official
    return out


def read_msp_podcast(
    data_dir: str | Path,
    *,
    class_set: str = "msp-8",
    ambiguity: Literal["reference", "fixed"] = "reference",
    ambiguity_cuts: tuple[float, float] = DEFAULT_AMBIGUITY_CUTS,
    ambiguity_ties: str = "together",
    duplicate_workers: Literal["first", "all"] = "first",
    consensus_in_set: bool = False,
    out_of_set: Literal["share", "keep"] = "share",
    min_in_set_share: float = DEFAULT_MIN_IN_SET_SHARE,
    ids_file: str | Path | None = None,
    partitions: Mapping[str, str | None] | None = None,
    strict: bool = True,
    check_audio: bool = True,
    splits: Iterable[str] | None = None,
    progress: bool = False,
) -> ReadResult:
    """Read MSP-Podcast into one row per labelled file with every worker's primary vote and the distribution.

    Args:
        data_dir: the release folder (holding ``Audios/`` and ``Labels/``).
        class_set: ``msp-8`` (default) or ``msp-4``; its order is the order of ``human_votes``/``human_dist``.
        ambiguity, ambiguity_cuts, ambiguity_ties: as in :func:`hf_ambiguity.corpora.read_iemocap`.
        duplicate_workers: ``first`` (default: a worker's repeated rows for a file count once) or ``all``.
        consensus_in_set: keep only files whose consensus class maps into the class set.
        out_of_set, min_in_set_share, ids_file: the selections of :mod:`hf_ambiguity.corpora.selection`.
        partitions: ``Split_Set`` value → official partition (``{"NA": "Train"}``) or ``"ignore"`` to leave those
            files out; the official names (and ``Validation``) are always known.
        strict: raise :class:`CorpusFormatError` naming ``file:line`` on a record with missing columns, an
            unparsable answer, an unknown label or partition, or an unusable audio file; ``False`` skips and
            counts.
        check_audio: check that every audio file exists and decodes to a non-empty signal.
        splits: read only these partitions (default: all).
        progress: show a progress bar over the files.

    Returns:
        :class:`ReadResult` whose rows have exactly :data:`MSP_COLUMNS`; ``audio`` is the absolute path.
    """
    cs = get_class_set(class_set)
    if cs.corpus != "msp-podcast":
        raise ValueError(f"class set {class_set!r} is for {cs.corpus}, not MSP-Podcast; use msp-8 or msp-4")
    definition = AmbiguityDefinition(ambiguity, ambiguity_cuts, ties=ambiguity_ties)
    policy = OutOfSetPolicy(out_of_set, min_in_set_share)
    if duplicate_workers not in ("first", "all"):
        raise ValueError(f"duplicate_workers must be one of ['first', 'all'], got {duplicate_workers!r}")
    split_of = partition_map(partitions)
    wanted: set[str] | None = None
    if splits is not None:
        wanted = set()
        for s in splits:
            if str(s).lower() not in _SPLIT_ALIASES:
                raise ValueError(f"splits must be among {list(SPLITS)}, got {s!r}")
            wanted.add(_SPLIT_ALIASES[str(s).lower()])
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise CorpusFormatError(f"MSP-Podcast data_dir {str(root)!r} does not exist; pass the release folder "
                                "that holds Audios/ and Labels/")
    root = root.resolve()
    audios = root / "Audios"
    files = find_label_files(root)
    ids = IdSelection(ids_file, normalise=_stem) if ids_file is not None else None
    report = ReportBuilder("MSP-Podcast", cs, strict)

    consensus = read_consensus(files.consensus, root, report)
    workers = _read_workers(files, root, cs, report, duplicate_workers, set(consensus))

    pending: list[Pending] = []
    items: Iterable[tuple[str, dict[str, Any]]] = consensus.items()
    if progress:
        from hf_ambiguity.progress import progress_bar as tqdm
        items = tqdm(list(items), desc="MSP-Podcast files", unit="file")
    for name, c in items:
        where, raw_split = c["where"], c["split_raw"]
        key = raw_split.strip().lower()
        split = split_of.get(key)
        if split is not None and wanted is not None and split not in wanted:
            report.notes["files in splits not asked for"] += 1
            continue
        report.read += 1
        utt = _stem(name)
        if key not in split_of:
            report.problem(where, f"Split_Set {raw_split!r} is not a known partition (known: {list(SPLITS)})",
                           fix=f"map it with --partition {raw_split or 'VALUE'}=Train (corpus.partitions: "
                               f"{{{raw_split!r}: Train}}), or leave those files out with --partition "
                               f"{raw_split or 'VALUE'}={PARTITION_IGNORE}")
            report.skip(f"unknown partition {raw_split!r}", utt=utt)
            continue
        if split is None:
            report.skip(f"partition {raw_split!r} ignored", utt=utt)
            continue
        if ids is not None and not ids.wants(utt):
            report.skip(NOT_LISTED, utt=utt)
            continue
        rel_audio = _audio_name(name)
        if rel_audio is None:
            report.problem(where, f"FileName {name!r} leaves the Audios/ folder (an absolute path or '..'); only "
                           "files inside the corpus folder are read", fix="correct the file name from the release")
            report.skip("file name outside Audios/", utt=utt)
            continue
        votes = workers.get(name, [])
        if not votes:
            report.skip("no labels (Test3)" if split == "Test3" else "no worker labels", utt=utt)
            continue
        known, consensus_class = map_or_fail(cs, c["code"], report, where) if c["code"] else (True, None)
        if not known:
            report.skip("unknown consensus code", utt=utt)
            continue
        if consensus_in_set and consensus_class is None:
            report.skip("consensus outside class set", utt=utt)
            continue
        wav = audios / rel_audio
        if check_audio and not _audio_ok(wav, root, where, report, utt):
            continue
        transcript = _transcript(root, utt, report)
        base = {
            "id": utt, "corpus": "msp-podcast", "split": split, "speaker": c["speaker"],
            "gender": c["gender"], "audio": str(wav), "transcript": transcript,
            "consensus_label": c["code"], "consensus_class": consensus_class or "",
            "valence": c["valence"], "activation": c["activation"], "dominance": c["dominance"],
        }
        pending.append(Pending(
            base=base,
            annotators=[w["worker"] for w in votes],
            raw_answers=[w["primary"] for w in votes],
            labels=[[w["primary"]] if w["known"] else [] for w in votes],
            other_text=[w["other_text"] for w in votes],
            extra={"secondary_answers": [w["secondary"] for w in votes]},
            where=where,
        ))
    rows = finish_rows(pending, cs, report, multi_label="whole", ambiguity=definition, out_of_set=policy)
    unknown = {k[len("unknown partition "):]: v for k, v in report.skipped.items()
               if k.startswith("unknown partition ")}
    if unknown:
        first = next(iter(unknown)).strip("'") or "VALUE"
        report.warnings.append(
            f"{sum(unknown.values())} file(s) were skipped because their Split_Set is not a known partition ("
            + ", ".join(f"{k}: {v}" for k, v in unknown.items()) + f"); map a value onto a partition with "
            f"--partition {first}=Train (corpus.partitions: {{{first}: Train}}) or leave its files out with "
            f"--partition {first}={PARTITION_IGNORE}")
    if ids is not None:
        finish_id_selection(ids, rows, report, "the label files read" + (f" (partitions {sorted(wanted)})"
                                                                        if wanted else ""))
    for split, n in Counter(r["split"] for r in rows).items():
        report.notes[f"kept in {split}"] = n
    options: dict[str, Any] = {
        "class_set": cs.name, "ambiguity": ambiguity, "duplicate_workers": duplicate_workers,
        "consensus_in_set": consensus_in_set, "out_of_set": policy.name, "min_in_set_share": float(min_in_set_share),
        "strict": strict, "splits": sorted(wanted, key=SPLITS.index) if wanted else list(SPLITS),
        "label_files": files.describe(root)}
    if partitions:
        options["partitions"] = {str(k): (None if v is None else str(v)) for k, v in partitions.items()}
    if ids is not None:
        options["ids_file"] = str(ids.path)
    if ambiguity == "fixed":
        options["ambiguity_cuts"] = tuple(ambiguity_cuts)
    elif ambiguity_ties != "together":
        options["ambiguity_ties"] = ambiguity_ties
    selection = selection_counts(report.skipped, ids=ids, consensus_in_set=consensus_in_set, policy=policy)
    frozen = report.freeze(rows, options, selection=selection, policy=policy.describe())
    return ReadResult(rows=rows, report=frozen, class_names=cs.names)


def _stem(name: str) -> str:
    """The utterance id of a ``FileName`` (``MSP-PODCAST_0001_0001.wav`` → ``MSP-PODCAST_0001_0001``)."""
    base = name.strip().replace("\\", "/").rsplit("/", 1)[-1]
    return base[:-4] if base.lower().endswith(".wav") else Path(base).stem if "." in base else base


def _audio_name(name: str) -> PurePosixPath | None:
    """``FileName`` as a path inside ``Audios/``, or None when it would leave the folder."""
    path = PurePosixPath(name.strip().replace("\\", "/"))
    if not name.strip() or path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        return None
    return path


def _audio_ok(wav: Path, root: Path, where: str, report: ReportBuilder, utt: str) -> bool:
    why = audio_problem(str(wav))
    if why is None:
        return True
    report.problem(where, f"audio file {wav.relative_to(root).as_posix()} is {why}",
                   fix=f"restore it from the release ({CHECK_AUDIO_HINT})")
    report.skip("missing audio" if why == "missing" else "unusable audio", utt=utt)
    return False


def _transcript(root: Path, utt: str, report: ReportBuilder) -> str:
    """The transcript of ``utt`` (whitespace collapsed), or "" when there is none (counted)."""
    tpath = root / "Transcripts" / f"{utt}.txt"
    if not tpath.is_file():
        report.notes["files without a transcript"] += 1
        return ""
    rel = tpath.relative_to(root).as_posix()
    try:
        text, encoding = decode_text(read_bytes(tpath))
    except OSError as err:
        report.problem(rel, unreadable_message(err))
        report.notes["transcript files that could not be read"] += 1
        return ""
    if encoding == "windows-1252":
        report.notes["files decoded as Windows-1252"] += 1
    return " ".join(text.split())


def _read_workers(files: LabelFiles, root: Path, cs, report: ReportBuilder, duplicate_workers: str,
                  known_files: set[str]) -> dict[str, list[dict[str, Any]]]:
    """File name → its workers' answers (``worker``, ``primary``, ``known``, ``secondary``, ``other_text``)."""
    out: dict[str, list[dict[str, Any]]] = {}
    seen: set[tuple[str, str]] = set()
    for where, name, d in read_detailed(files, root, report):
        if name not in known_files:
            report.notes["worker rows for files without a consensus row"] += 1
            continue
        key = (name, d["worker"])
        if key in seen:
            if duplicate_workers == "first":
                report.notes["duplicate worker rows dropped"] += 1
                continue
            report.notes["duplicate worker rows kept"] += 1
        seen.add(key)
        primary = d["primary"]
        known, _ = map_or_fail(cs, primary, report, where)
        if known and not _is_primary_emotion(cs, primary):
            report.problem(where, f"primary answer {primary!r} is a secondary emotion of MSP-Podcast, not one of the "
                           f"primary emotions ({', '.join(sorted(_PRIMARY_EMOTIONS))})",
                           fix="correct the answer from the release")
            report.notes["primary answers that are not primary emotions"] += 1
            known = False
        out.setdefault(name, []).append({"worker": d["worker"], "primary": primary, "known": known,
                                         "secondary": d["secondary"], "other_text": other_text(primary)})
    return out


def _is_primary_emotion(cs, answer: str) -> bool:
    if is_other(answer):
        return True
    return cs.canonical.get(normalise_spelling(answer)) in _PRIMARY_EMOTIONS
