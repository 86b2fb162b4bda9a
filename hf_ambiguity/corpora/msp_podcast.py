"""Reader for MSP-Podcast (v1.10 and later layout; v1.7-1.9 consensus-file spelling accepted): every worker's vote.

Corpus: R. Lotfian and C. Busso, "Building naturalistic emotionally balanced speech corpus by retrieving emotional
speech from existing podcast recordings", IEEE Transactions on Affective Computing 10(4), 2019. Licensed by UT
Dallas MSP lab; never redistribute it (push built datasets privately).

Layout read (``data_dir`` is the release folder)::

    Audios/<FileName>                  # MSP-PODCAST_0001_0001.wav
    Labels/labels_consensus.csv        # FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set
                                       #   (spelled labels_concensus.csv up to v1.9; both are accepted)
    Labels/labels_detailed.csv         # FileName,EmoDetail; one row per worker and file
    Transcripts/<stem>.txt             # optional

``EmoDetail`` is ``WORKER00012345; Happy; Happy,Excited; A:5.000000; V:4.000000; D:4.000000;`` (CSV-quoted when it
holds a comma): worker id (any width), primary emotion (``Other-<free text>`` for 'other'), secondary emotions
(comma-separated, possibly empty), attributes. The **primary** answer of each worker is one vote; secondary answers
are kept as written in ``secondary_answers`` (their vocabulary is wider than the primary classes, and the
reference method uses primary labels only). ``other_text`` holds the free text of ``Other-...`` primaries.
Free text may hold ``;`` and, when a row was written without CSV quoting, ``,``: both are read back as written
(see :func:`parse_emo_detail`).

Duplicate workers: the release has files where the same worker id appears on two rows. By default
(``duplicate_workers="first"``) only the worker's first row counts, so one person never weighs twice in a
distribution; the later rows are counted in the report (``duplicate worker rows dropped``). ``"all"`` keeps
every row as a separate vote.

Splits: ``Split_Set`` as written (Train / Development / Test1 / Test2 / Test3; the older name ``Validation`` is read
as ``Development``). Test3's labels are hidden in the release, so its files have no votes: they are skipped and
counted as ``no labels (Test3)``; any other file without worker rows is skipped as ``no worker labels``.
Speaker ids are kept as written (``Unknown`` included); gender is ``female`` / ``male`` / ``unknown``.
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Literal

from hf_ambiguity.corpora.report import ReadResult, ReportBuilder
from hf_ambiguity.corpora.rows import Pending, audio_problem, finish_rows, map_or_fail
from hf_ambiguity.distributions import DEFAULT_AMBIGUITY_CUTS, AmbiguityDefinition, check_multi_label
from hf_ambiguity.errors import CorpusFormatError
from hf_ambiguity.labels import get_class_set, normalise_spelling

__all__ = ["read_msp_podcast", "MSP_COLUMNS", "SPLITS", "parse_emo_detail"]

#: The columns of an MSP-Podcast row, in order (see :mod:`hf_ambiguity.schema`).
MSP_COLUMNS = (
    "id", "corpus", "split", "speaker", "gender", "audio", "transcript",
    "consensus_label", "consensus_class", "valence", "activation", "dominance",
    "annotators", "raw_answers", "other_text", "secondary_answers",
    "human_labels", "human_votes", "human_dist", "n_annotators", "n_dropped_labels", "entropy", "ambiguity",
    "majority_label", "has_majority",
)
#: Official partitions, in order.
SPLITS = ("Train", "Development", "Test1", "Test2", "Test3")
_SPLIT_ALIASES = {"validation": "Development", **{s.lower(): s for s in SPLITS}}
_CONSENSUS_COLUMNS = ("FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set")
_ATTR = re.compile(r"^(?P<k>[AVD])\s*:\s*(?P<v>[-+]?\d+(?:\.\d*)?)$")
_ATTR_LIKE = re.compile(r"^[AVD]\s*:")
#: Every MSP-Podcast emotion spelling (primary and secondary vocabulary), to find where secondary answers start.
_MSP_VOCABULARY = frozenset(get_class_set("msp-8").canonical)
_GENDERS = {"female": "female", "f": "female", "male": "male", "m": "male", "unknown": "unknown", "": "unknown"}


def parse_emo_detail(detail: str) -> dict[str, Any] | None:
    """Split one ``EmoDetail`` field; None when it has no worker id and primary answer.

    The trailing ``A:``/``V:``/``D:`` parts are the attributes; the first part is the worker id, the next the
    primary answer, the rest the secondary answers. Free text may itself hold ``;`` (``Other-sad; tired``): after an
    ``Other-...`` primary, the secondary answers start at the first part that begins with an emotion name (or is
    empty); before that, the parts belong to the primary's free text. Texts are kept exactly as written.

    >>> d = parse_emo_detail("WORKER00012345; Happy; Happy,Excited; A:5.000000; V:4.000000; D:4.000000;")
    >>> d["worker"], d["primary"], d["secondary"], d["attributes"]
    ('WORKER00012345', 'Happy', 'Happy,Excited', {'A': 5.0, 'V': 4.0, 'D': 4.0})
    >>> parse_emo_detail("WORKER1; Other-Confused, unsure; ; A:3; V:4; D:4;")["primary"]
    'Other-Confused, unsure'
    >>> d = parse_emo_detail("WORKER7; Other-sad; tired; Sad,Other-bored; really; A:2; V:2; D:3;")
    >>> d["primary"], d["secondary"]
    ('Other-sad; tired', 'Sad,Other-bored; really')
    >>> parse_emo_detail("WORKER7; Sad; ; A:2; V:NaN; D:3;") is None  # a malformed attribute
    True
    """
    raw = detail.split(";")
    while raw and not raw[-1].strip():
        raw.pop()
    attributes: dict[str, float] = {}
    while len(raw) > 2 and (m := _ATTR.match(raw[-1].strip())):
        attributes = {m["k"]: float(m["v"]), **attributes}
        raw.pop()
    if len(raw) < 2 or not raw[0].strip() or not raw[1].strip():
        return None
    middle = raw[1:]
    if any(_ATTR_LIKE.match(part.strip()) for part in middle):  # e.g. "V:NaN", or an attribute before the text
        return None
    cut = 1
    if _is_other(middle[0]):
        cut = next((k for k in range(1, len(middle)) if _starts_answer(middle[k])), len(middle))
    return {"worker": raw[0].strip(), "primary": ";".join(middle[:cut]).strip(),
            "secondary": ";".join(middle[cut:]).strip(), "attributes": attributes}


def _is_other(text: str) -> bool:
    t = text.strip().lower()
    return t == "other" or t.startswith("other-")


def _starts_answer(part: str) -> bool:
    """Whether a ``;``-separated piece of ``EmoDetail`` begins a list of emotion answers (or is an empty list)."""
    first = normalise_spelling(part.split(",")[0])
    return not first or _is_other(first) or (len(first) > 1 and first in _MSP_VOCABULARY)


def _float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def read_msp_podcast(
    data_dir: str | Path,
    *,
    class_set: str = "msp-8",
    ambiguity: Literal["reference", "fixed"] = "reference",
    ambiguity_cuts: tuple[float, float] = DEFAULT_AMBIGUITY_CUTS,
    duplicate_workers: Literal["first", "all"] = "first",
    consensus_in_set: bool = False,
    strict: bool = True,
    check_audio: bool = True,
    splits: Iterable[str] | None = None,
    progress: bool = False,
) -> ReadResult:
    """Read MSP-Podcast into one row per labelled file with every worker's primary vote and the distribution.

    Args:
        data_dir: the release folder (holding ``Audios/`` and ``Labels/``).
        class_set: ``msp-8`` (default) or ``msp-4``; its order is the order of ``human_votes``/``human_dist``.
        ambiguity, ambiguity_cuts: as in :func:`hf_ambiguity.corpora.read_iemocap`.
        duplicate_workers: ``first`` (default: a worker's repeated rows for a file count once) or ``all``.
        consensus_in_set: keep only files whose consensus class maps into the class set.
        strict: raise :class:`CorpusFormatError` naming ``file:line`` on a CSV row with missing columns, an
            unparsable ``EmoDetail``, an unknown label or a missing/unreadable audio file; ``False`` skips and counts.
        check_audio: check that every audio file exists and is readable (``soundfile.info``).
        splits: read only these partitions (default: all).
        progress: show a progress bar over the files.

    Returns:
        :class:`ReadResult` whose rows have exactly :data:`MSP_COLUMNS`; ``audio`` is the absolute path.
    """
    cs = get_class_set(class_set)
    if cs.corpus != "msp-podcast":
        raise ValueError(f"class set {class_set!r} is for {cs.corpus}, not MSP-Podcast; use msp-8 or msp-4")
    definition = AmbiguityDefinition(ambiguity, ambiguity_cuts)
    if duplicate_workers not in ("first", "all"):
        raise ValueError(f"duplicate_workers must be one of ['first', 'all'], got {duplicate_workers!r}")
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
    labels_dir = root / "Labels"
    consensus_path = next((labels_dir / n for n in ("labels_consensus.csv", "labels_concensus.csv")
                           if (labels_dir / n).is_file()), None)
    if consensus_path is None:
        raise CorpusFormatError(f"{str(labels_dir)!r} has no labels_consensus.csv (or labels_concensus.csv); "
                                "pass the MSP-Podcast release folder (v1.7 or later)")
    detailed_path = labels_dir / "labels_detailed.csv"
    if not detailed_path.is_file():
        raise CorpusFormatError(f"{str(detailed_path)!r} is missing: per-worker votes come from it (v1.10+ "
                                "layout); restore it from the release")
    report = ReportBuilder("MSP-Podcast", cs, strict)

    consensus = _read_consensus(consensus_path, root, report)
    workers = _read_detailed(detailed_path, root, cs, report, duplicate_workers, set(consensus))

    pending: list[Pending] = []
    items: Iterable[tuple[str, dict[str, Any]]] = consensus.items()
    if progress:
        from hf_ambiguity.progress import progress_bar as tqdm
        items = tqdm(list(items), desc="MSP-Podcast files", unit="file")
    for name, c in items:
        if wanted is not None and c["split"] not in wanted:
            report.notes["files in splits not asked for"] += 1
            continue
        report.read += 1
        where = c["where"]
        votes = workers.get(name, [])
        if not votes:
            report.skip("no labels (Test3)" if c["split"] == "Test3" else "no worker labels")
            continue
        known, consensus_class = map_or_fail(cs, c["code"], report, where) if c["code"] else (True, None)
        if not known:
            report.skip("unknown consensus code")
            continue
        if consensus_in_set and consensus_class is None:
            report.skip("consensus outside class set")
            continue
        wav = root / "Audios" / name
        if check_audio and not _audio_ok(wav, root, where, report):
            continue
        transcript = ""
        tpath = root / "Transcripts" / (Path(name).stem + ".txt")
        if tpath.is_file():
            transcript = " ".join(tpath.read_text(encoding="utf-8", errors="replace").split())
        else:
            report.notes["files without a transcript"] += 1
        base = {
            "id": Path(name).stem, "corpus": "msp-podcast", "split": c["split"], "speaker": c["speaker"],
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
    rows = finish_rows(pending, cs, report, multi_label="whole", ambiguity=definition)
    for split, n in Counter(r["split"] for r in rows).items():
        report.notes[f"kept in {split}"] = n
    options = {"class_set": cs.name, "ambiguity": ambiguity, "duplicate_workers": duplicate_workers,
               "consensus_in_set": consensus_in_set, "strict": strict,
               "splits": sorted(wanted, key=SPLITS.index) if wanted else list(SPLITS)}
    if ambiguity == "fixed":
        options["ambiguity_cuts"] = tuple(ambiguity_cuts)
    return ReadResult(rows=rows, report=report.freeze(rows, options), class_names=cs.names)


def _audio_ok(wav: Path, root: Path, where: str, report: ReportBuilder) -> bool:
    why = audio_problem(str(wav))
    if why is None:
        return True
    report.problem(where, f"audio file {wav.relative_to(root).as_posix()} is {why}",
                   fix="restore it from the release, or pass check_audio=False to skip the check")
    report.skip("missing audio" if why == "missing" else "unreadable audio")
    return False


def _csv_rows(path: Path, root: Path, required: tuple[str, ...], report: ReportBuilder, *,
              free_text_last: str | None = None):
    """Yield ``(where, dict)`` per data row; a row with missing columns is an error (strict) or skipped.

    A row with more cells than the header is an error too, unless the extra cells are empty (a trailing comma) or
    the header's last column is ``free_text_last``, free text whose commas were not CSV-quoted: its cells are then
    joined back with ``,``, which restores the text exactly. A file that is not UTF-8 is an error naming the line.
    """
    rel = path.relative_to(root).as_posix()
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, None)
            if header is None:
                raise CorpusFormatError(f"{rel}:1: the file is empty; restore it from the release")
            header = [h.strip() for h in header]
            missing = [c for c in required if c not in header]
            if missing:
                raise CorpusFormatError(f"{rel}:1: header lacks column(s) {missing} (has {header}); this reader "
                                        "needs the v1.7+ label files")
            n = len(header)
            join_tail = free_text_last is not None and header[-1] == free_text_last
            for row in reader:
                where = f"{rel}:{reader.line_num}"
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) > n and any(cell.strip() for cell in row[n:]):
                    if join_tail:
                        row = row[:n - 1] + [",".join(row[n - 1:])]
                    else:
                        report.problem(where, f"row has {len(row)} column(s), the header has {n} {header}",
                                       fix="repair the row from the release (quote fields that hold commas)")
                        report.notes[f"rows skipped in {path.name}"] += 1
                        continue
                if len(row) < n:
                    report.problem(where, f"row has {len(row)} column(s), the header has {n} {header}",
                                   fix="repair the row from the release")
                    report.notes[f"rows skipped in {path.name}"] += 1
                    continue
                yield where, {h: cell.strip() for h, cell in zip(header, row)}
        except UnicodeDecodeError:
            raise CorpusFormatError(f"{rel}:{_first_undecodable_line(path)}: not UTF-8 text; restore the file "
                                    "from the release or re-save it as UTF-8") from None


def _first_undecodable_line(path: Path) -> int:
    """1-based number of the first line of ``path`` that is not valid UTF-8 (0 when every line is)."""
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return lineno
    return 0


def _read_consensus(path: Path, root: Path, report: ReportBuilder) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for where, r in _csv_rows(path, root, _CONSENSUS_COLUMNS, report):
        name = r["FileName"]
        split = _SPLIT_ALIASES.get(r["Split_Set"].lower())
        if not name or split is None:
            what = "empty FileName" if not name else f"unknown Split_Set {r['Split_Set']!r} (expected {list(SPLITS)})"
            report.problem(where, what, fix="repair the row from the release")
            report.notes[f"rows skipped in {path.name}"] += 1
            continue
        if name in out:
            report.problem(where, f"{name} is listed twice (first at {out[name]['where']})",
                           fix="remove the duplicate row")
            report.notes[f"rows skipped in {path.name}"] += 1
            continue
        bad = [k for k in ("EmoAct", "EmoVal", "EmoDom") if r[k] and math.isnan(_float(r[k]))]
        if bad:
            report.problem(where, f"{bad[0]} is {r[bad[0]]!r}, not a number", fix="repair the row from the release")
            report.notes[f"rows skipped in {path.name}"] += 1
            continue
        if not all(r[k] for k in ("EmoAct", "EmoVal", "EmoDom")):
            report.notes["files without consensus attributes (NaN)"] += 1
        out[name] = {
            "where": where, "split": split, "code": r["EmoClass"], "speaker": r["SpkrID"] or "Unknown",
            "gender": _GENDERS.get(r["Gender"].lower(), r["Gender"].lower()),
            "activation": _float(r["EmoAct"]), "valence": _float(r["EmoVal"]), "dominance": _float(r["EmoDom"]),
        }
    return out


def _read_detailed(path: Path, root: Path, cs, report: ReportBuilder, duplicate_workers: str,
                   known_files: set[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    seen: set[tuple[str, str]] = set()
    for where, r in _csv_rows(path, root, ("FileName", "EmoDetail"), report,
                              free_text_last="EmoDetail"):
        d = parse_emo_detail(r["EmoDetail"])
        if d is None:
            report.problem(where, f"EmoDetail {r['EmoDetail']!r} is not 'WORKER; Primary; Secondary,...; A:x; V:x; "
                           "D:x;'", fix="repair the row from the release")
            report.notes["rows skipped in labels_detailed.csv"] += 1
            continue
        name = r["FileName"]
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
        known, _ = map_or_fail(cs, d["primary"], report, where)
        primary = d["primary"]
        other = primary.split("-", 1)[1].strip() if primary.lower().startswith("other-") else ""
        out.setdefault(name, []).append({"worker": d["worker"], "primary": primary, "known": known,
                                         "secondary": d["secondary"], "other_text": other})
    return out
