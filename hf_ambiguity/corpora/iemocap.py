"""Reader for IEMOCAP (``IEMOCAP_full_release``): every evaluator's categorical answer per rated turn.

Corpus: C. Busso et al., "IEMOCAP: Interactive emotional dyadic motion capture database", Language Resources and
Evaluation 42(4), 2008. Licensed by USC SAIL; never redistribute it (push built datasets privately).

Layout read (``data_dir`` is ``IEMOCAP_full_release`` or a folder holding it)::

    Session{1..5}/dialog/EmoEvaluation/<dialog>.txt      # per-turn header + one C-/A- line per evaluator
    Session{1..5}/dialog/transcriptions/<dialog>.txt     # "<utt_id> [006.2901-008.2357]: text"
    Session{1..5}/sentences/wav/<dialog>/<utt_id>.wav

EmoEvaluation and transcription files are decoded as the release wrote them (UTF-8 when valid, else latin-1 with
Windows-1252 punctuation; a byte-order mark is removed: :func:`hf_ambiguity.corpora.text.decode_text`), with any
line ending (CRLF included) and trailing whitespace ignored; macOS ``._*`` files and sub-folders (``Categorical/``,
``Attribute/``, ``Self-evaluation/``) are skipped; file lists are sorted. A block is::

    [6.2901 - 8.2357]	Ses01F_impro01_F000	neu	[2.5000, 2.5000, 2.5000]
    C-E2:	Neutral;	()
    C-E3:	Frustration; Anger;	()
    C-F1:	Other;	(curious)
    A-E3:	val 3; act 2; dom  2;	()

The header gives the turn's times, id, consensus code (``xxx`` = no agreement) and V/A/D (the mean of the outside
evaluators' ``A-`` lines, so ``A-`` lines are accepted but not stored). ``C-E*`` lines are the outside evaluators;
an evaluator may name several emotions; ``(...)`` holds free text (mostly what 'Other' meant); ``;`` alone is an
evaluator who gave no answer (kept in ``annotators``/``raw_answers``, no vote, not counted in ``n_annotators``).

Self-evaluations (``C-F<n>`` / ``C-M<n>``, the actors rating their own and their partner's turns) are **excluded
by default**: they are the actors' own view rather than perception by outside listeners, they exist only for part
of the corpus (so including them would give some utterances more raters than others for a reason unrelated to the
utterance), and the reference method's evaluator counts (about 3 per utterance) are outside evaluators only.
``include_self_evaluations=True`` adds them as annotators ``F<n>``/``M<n>``.

Lenient mode (``strict=False``) skips and counts what strict mode refuses: a malformed line is ignored, a turn
with a malformed header, a wrong id or a missing/unreadable/undecodable wav is skipped, an unknown label is removed
from that evaluator's answer as if it had not been written (``raw_answers`` still shows it as written), an
EmoEvaluation file that cannot be read is skipped and a transcription file that cannot be read leaves its turns
without transcripts (both counted).

Speaker and gender come from the final ``_[FM]\\d{3}`` of the turn id (never a fixed character position: dialog
names such as ``Ses03M_impro05a`` and ``Ses05M_script01_1b`` break that); the speaker id is ``Ses01F``-style.
``method`` is ``improvised`` or ``scripted`` from the dialog name.

Selection: ``ids_file`` keeps only the listed turns; ``consensus_in_set`` (default: True for ``paper-4class``
only) keeps only turns whose header consensus code maps into the class set, which is how the reference method's
4-class subset appears to have been selected (this gives 4,490 turns on the full release; the paper reports 4,373,
selected by a precomputed flag that is not in the authors' code); ``out_of_set`` / ``min_in_set_share`` decide what
happens to turns with votes outside the class set (default: keep a turn only when at least half of its valid votes
are in the set). See :mod:`hf_ambiguity.corpora.selection`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable, Literal

from hf_ambiguity.corpora.audio_check import audio_problem
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
from hf_ambiguity.distributions import DEFAULT_AMBIGUITY_CUTS, AmbiguityDefinition, check_multi_label
from hf_ambiguity.errors import CorpusFormatError
from hf_ambiguity.labels import get_class_set

__all__ = ["read_iemocap", "IEMOCAP_COLUMNS", "KNOWN_TOTAL", "KNOWN_SESSION_TOTALS", "parse_utterance_id"]

#: The columns of an IEMOCAP row, in order (see :mod:`hf_ambiguity.schema`).
IEMOCAP_COLUMNS = (
    "id", "corpus", "session", "dialog", "method", "speaker", "gender", "start", "end", "audio", "transcript",
    "consensus_label", "consensus_class", "valence", "activation", "dominance",
    "annotators", "raw_answers", "other_text",
    "human_labels", "human_votes", "human_dist", "n_annotators", "n_dropped_labels", "in_set_share", "entropy",
    "ambiguity", "majority_label", "has_majority",
)
#: Rated turns in the full release, and per session.
KNOWN_TOTAL = 10039
KNOWN_SESSION_TOTALS = {1: 1819, 2: 1811, 3: 2136, 4: 2103, 5: 2170}

_NUM = r"[-+]?\d+(?:\.\d*)?"
_HEADER = re.compile(
    rf"^\[\s*(?P<start>{_NUM})\s*-\s*(?P<end>{_NUM})\s*\]\s+(?P<utt>\S+)\s+(?P<code>\S+)\s+"
    rf"\[\s*(?P<v>{_NUM})\s*,\s*(?P<a>{_NUM})\s*,\s*(?P<d>{_NUM})\s*\]$"
)
_CAT = re.compile(r"^C-(?P<who>[EFM])(?P<num>\d+)\s*:(?P<answer>[^()]*?)\s*(?:\((?P<text>.*)\))?$")
_ATTR = re.compile(r"^A-[EFM]\d+\s*:")
_UTT = re.compile(r"^(?P<dialog>Ses(?P<session>\d{2})[FM]_.+)_(?P<gender>[FM])\d{3}$")
_TRANSCRIPT = re.compile(r"^(?P<utt>\S+)\s+\[[^\]]*\]\s*:\s?(?P<text>.*)$")


def parse_utterance_id(utt_id: str) -> dict[str, Any] | None:
    """Session, dialog, speaker, gender and method from a turn id, or None when it is not an IEMOCAP turn id.

    >>> parse_utterance_id("Ses05M_script01_1b_F012")
    {'session': 5, 'dialog': 'Ses05M_script01_1b', 'speaker': 'Ses05F', 'gender': 'female', 'method': 'scripted'}
    >>> parse_utterance_id("Ses03M_impro05a_M001")["method"], parse_utterance_id("Ses01F_impro01_MXX0")
    ('improvised', None)
    """
    m = _UTT.match(utt_id)
    if not m:
        return None
    session, dialog, g = int(m["session"]), m["dialog"], m["gender"]
    method = "improvised" if "_impro" in dialog else "scripted" if "_script" in dialog else "unknown"
    return {"session": session, "dialog": dialog, "speaker": f"Ses{session:02d}{g}",
            "gender": "female" if g == "F" else "male", "method": method}


def _listing(folder: Path) -> list[Path]:
    """Sorted ``*.txt`` files of a folder, without macOS ``._*`` resource files and hidden files."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".txt" and not p.name.startswith("."))


def _resolve_root(data_dir: str | Path) -> Path:
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise CorpusFormatError(f"IEMOCAP data_dir {str(root)!r} does not exist; pass the IEMOCAP_full_release folder")
    if not any((root / f"Session{i}").is_dir() for i in range(1, 6)) and (root / "IEMOCAP_full_release").is_dir():
        root = root / "IEMOCAP_full_release"
    return root.resolve()


def _read_file(path: Path, root: Path, report: ReportBuilder, what: str) -> str | None:
    """The decoded text of a corpus file, or None (lenient) when it cannot be read; strict mode raises."""
    rel = path.relative_to(root).as_posix()
    try:
        text, encoding = decode_text(read_bytes(path))
    except OSError as err:
        report.problem(rel, unreadable_message(err))
        report.notes[f"{what} files that could not be read"] += 1
        return None
    if encoding == "windows-1252":
        report.notes["files decoded as Windows-1252"] += 1
    return text


def _read_transcripts(path: Path, root: Path, report: ReportBuilder) -> dict[str, str]:
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    text = _read_file(path, root, report, "transcription")
    for line in (text or "").splitlines():
        m = _TRANSCRIPT.match(line.strip())
        if m:  # lines without an id (unrated turns such as "M: [LAUGHTER]") are not rated turns: ignored
            out[m["utt"]] = m["text"].strip()
    return out


def read_iemocap(
    data_dir: str | Path,
    *,
    class_set: str = "iemocap-4",
    include_self_evaluations: bool = False,
    multi_label: Literal["fractional", "whole"] = "fractional",
    ambiguity: Literal["reference", "fixed"] = "reference",
    ambiguity_cuts: tuple[float, float] = DEFAULT_AMBIGUITY_CUTS,
    ambiguity_ties: str = "together",
    consensus_in_set: bool | None = None,
    out_of_set: Literal["share", "keep"] = "share",
    min_in_set_share: float = DEFAULT_MIN_IN_SET_SHARE,
    ids_file: str | Path | None = None,
    strict: bool = True,
    sessions: Iterable[int] | None = None,
    check_audio: bool = True,
    progress: bool = False,
) -> ReadResult:
    """Read IEMOCAP into one row per rated turn with every evaluator's answer, votes and distribution.

    Args:
        data_dir: ``IEMOCAP_full_release`` (or the folder that holds it).
        class_set: a name from :data:`hf_ambiguity.labels.CLASS_SETS` (``iemocap-4``, ``paper-4class``,
            ``iemocap-full``); its order is the order of ``human_votes``/``human_dist``.
        include_self_evaluations: add the actors' ``C-F*``/``C-M*`` answers as annotators (default: excluded,
            see the module docstring for why).
        multi_label: ``fractional`` (each evaluator's weight 1 split over the labels they named) or ``whole``
            (one vote per label named); see :func:`hf_ambiguity.distributions.votes_from_answers`.
        ambiguity: ``reference`` (label-list entropy / log(#distinct labels), equal terciles over the turns read)
            or ``fixed`` (entropy / log(#classes) with ``ambiguity_cuts``); ``entropy`` holds that score.
        ambiguity_ties: how terciles treat ties at a cut (``together``, ``rank``, ``reference``: see
            :func:`hf_ambiguity.distributions.tercile_levels`).
        consensus_in_set: keep only turns whose header consensus maps into the class set (default: True for
            ``paper-4class``, the reference method's selection; False otherwise).
        out_of_set, min_in_set_share: what happens to turns with votes outside the class set: ``share`` (default)
            keeps a turn only when at least ``min_in_set_share`` of its valid votes are in the set, ``keep`` keeps
            every turn with an in-set vote (:mod:`hf_ambiguity.corpora.selection`).
        ids_file: keep only the turns listed in this file (one id per line); a listed id that is not in the
            sessions read is an error.
        strict: raise :class:`CorpusFormatError` naming ``file:line`` on a malformed line, an unknown label, an
            unreadable file or an unusable wav; ``False`` skips such input and counts it in the report.
        sessions: subset of 1..5 to read (default: every ``Session*`` folder present).
        check_audio: check that every wav exists and decodes to a non-empty signal
            (:func:`hf_ambiguity.corpora.audio_check.audio_problem`).
        progress: show a progress bar over the dialog files.

    Returns:
        :class:`ReadResult` whose rows have exactly :data:`IEMOCAP_COLUMNS`; ``audio`` is the absolute wav path.
    """
    cs = get_class_set(class_set)
    if cs.corpus != "iemocap":
        raise ValueError(f"class set {class_set!r} is for {cs.corpus}, not IEMOCAP; use iemocap-4, paper-4class "
                         "or iemocap-full")
    definition = AmbiguityDefinition(ambiguity, ambiguity_cuts, ties=ambiguity_ties)
    check_multi_label(multi_label)
    policy = OutOfSetPolicy(out_of_set, min_in_set_share)
    if consensus_in_set is None:
        consensus_in_set = cs.name == "paper-4class"
    root = _resolve_root(data_dir)
    if sessions is None:
        session_ids = [i for i in range(1, 6) if (root / f"Session{i}").is_dir()]
        if not session_ids:
            raise CorpusFormatError(f"no Session1..Session5 folders under {str(root)!r}; pass the "
                                    "IEMOCAP_full_release folder as data_dir")
    else:
        session_ids = sorted(set(int(s) for s in sessions))
        bad = [s for s in session_ids if s not in range(1, 6)]
        if bad:
            raise ValueError(f"sessions must be numbers 1..5, got {bad}")
        missing = [s for s in session_ids if not (root / f"Session{s}").is_dir()]
        if missing:
            raise CorpusFormatError(f"Session{missing[0]} not found under {str(root)!r}; check data_dir or "
                                    f"drop it from sessions")

    ids = IdSelection(ids_file) if ids_file is not None else None
    report = ReportBuilder("IEMOCAP", cs, strict)
    files = [f for s in session_ids for f in _listing(root / f"Session{s}" / "dialog" / "EmoEvaluation")]
    if not files:
        raise CorpusFormatError(f"no EmoEvaluation/*.txt files under {str(root)!r}/Session*/dialog; is this "
                                "IEMOCAP_full_release?")
    per_session = {s: 0 for s in session_ids}
    pending: list[Pending] = []
    if progress:
        from hf_ambiguity.progress import progress_bar as tqdm
        files_iter: Iterable[Path] = tqdm(files, desc="IEMOCAP dialogs", unit="file")
    else:
        files_iter = files
    for path in files_iter:
        session = int(path.parents[2].name.removeprefix("Session"))
        n = _parse_file(path, root, session, cs, report, include_self_evaluations, consensus_in_set,
                        check_audio, ids, pending)
        per_session[session] += n

    rows = finish_rows(pending, cs, report, multi_label=multi_label, ambiguity=definition, out_of_set=policy)
    if ids is not None:
        finish_id_selection(ids, rows, report, f"the sessions read ({session_ids})")
    for s in session_ids:
        report.notes[f"kept in Session{s}"] = sum(1 for r in rows if r["session"] == s)
    if set(session_ids) == set(KNOWN_SESSION_TOTALS) and report.read != KNOWN_TOTAL:
        detail = ", ".join(f"Session{s}: {per_session[s]} (release: {KNOWN_SESSION_TOTALS[s]})" for s in session_ids)
        report.warnings.append(f"read {report.read} rated turns, the full release has {KNOWN_TOTAL} ({detail}); "
                               "check for missing or extra EmoEvaluation files")
    options = {"class_set": cs.name, "include_self_evaluations": include_self_evaluations,
               "multi_label": multi_label, "ambiguity": ambiguity, "consensus_in_set": consensus_in_set,
               "out_of_set": policy.name, "min_in_set_share": float(min_in_set_share), "strict": strict,
               "sessions": session_ids}
    if ids is not None:
        options["ids_file"] = str(ids.path)
    if ambiguity == "fixed":
        options["ambiguity_cuts"] = tuple(ambiguity_cuts)
    elif ambiguity_ties != "together":
        options["ambiguity_ties"] = ambiguity_ties
    selection = selection_counts(report.skipped, ids=ids, consensus_in_set=consensus_in_set, policy=policy)
    frozen = report.freeze(rows, options, selection=selection, policy=policy.describe())
    return ReadResult(rows=rows, report=frozen, class_names=cs.names)


def _parse_file(path: Path, root: Path, session: int, cs, report: ReportBuilder, include_self: bool,
                consensus_in_set: bool, check_audio: bool, ids: IdSelection | None, pending: list[Pending]) -> int:
    """Parse one EmoEvaluation file into ``pending``; returns the number of turn headers read."""
    rel = path.relative_to(root).as_posix()
    dialog = path.stem
    transcripts: dict[str, str] | None = None
    n_headers = 0
    cur: Pending | None = None
    cur_ok = False      # whether the current block goes to the output
    in_bad_block = False

    def close() -> None:
        nonlocal cur, cur_ok
        if cur is not None and cur_ok:
            pending.append(cur)
        cur, cur_ok = None, False

    text = _read_file(path, root, report, "EmoEvaluation")
    if text is None:  # lenient: counted; its turns are unknown
        return 0
    for lineno, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        where = f"{rel}:{lineno}"
        if not line:
            close()
            in_bad_block = False
            continue
        if line.startswith("%"):
            continue
        if line.startswith("["):
            close()
            in_bad_block = False
            m = _HEADER.match(line)
            if not m:
                report.read += 1
                n_headers += 1
                report.problem(where, f"malformed turn header {line!r}; expected "
                               "'[start - end]<TAB>utt_id<TAB>code<TAB>[v, a, d]'",
                               fix="repair the line from the original release")
                report.skip("malformed turn header")
                in_bad_block = True
                continue
            report.read += 1
            n_headers += 1
            cur, cur_ok = _start_turn(m, where, rel, root, session, dialog, cs, report, consensus_in_set,
                                      check_audio, ids)
            if not cur_ok:
                in_bad_block = True  # the turn is skipped (and counted): ignore its evaluation lines
            else:
                if transcripts is None:
                    tpath = root / f"Session{session}" / "dialog" / "transcriptions" / f"{dialog}.txt"
                    transcripts = _read_transcripts(tpath, root, report)
                    if not tpath.is_file():
                        report.notes["dialogs without a transcription file"] += 1
                utt = cur.base["id"]
                if utt in transcripts:
                    cur.base["transcript"] = transcripts[utt]
                else:
                    report.notes["turns without a transcript line"] += 1
            continue
        if in_bad_block:
            continue
        if line.startswith("C-"):
            m = _CAT.match(line)
            if not m:
                report.problem(where, f"malformed categorical line {line!r}; expected "
                               "'C-E1:<TAB>Label; Label;<TAB>(free text)'",
                               fix="repair the line from the original release")
                report.notes["malformed lines skipped"] += 1
                continue
            if cur is None:
                report.problem(where, "evaluation line outside a turn block (no turn header above it)",
                               fix="restore the turn header line")
                report.notes["malformed lines skipped"] += 1
                continue
            who = m["who"] + m["num"]
            if m["who"] != "E" and not include_self:
                report.notes["self-evaluations excluded"] += 1
                continue
            if who in cur.annotators:
                report.problem(where, f"evaluator {who} answers twice for turn {cur.base['id']}",
                               fix="remove the repeated line")
                report.notes["repeated evaluator lines skipped"] += 1
                continue
            answer = m["answer"].strip()
            labels = []
            for lab in (x.strip() for x in answer.split(";")):
                if not lab:
                    continue
                known, _ = map_or_fail(cs, lab, report, where)
                if known:
                    labels.append(lab)
            if not answer.strip(" ;\t"):
                report.notes["empty answers"] += 1
            cur.annotators.append(who)
            cur.raw_answers.append(answer)
            cur.labels.append(labels)
            cur.other_text.append((m["text"] or "").strip())
            continue
        if line.startswith("A-"):
            if not _ATTR.match(line):
                report.problem(where, f"malformed attribute line {line!r}; expected 'A-E1:<TAB>val 3; act 2; "
                               "dom  2;<TAB>()'", fix="repair the line from the original release")
                report.notes["malformed lines skipped"] += 1
            elif cur is None:
                report.problem(where, "evaluation line outside a turn block (no turn header above it)",
                               fix="restore the turn header line")
                report.notes["malformed lines skipped"] += 1
            continue
        report.problem(where, f"unrecognised line {line!r} (expected a turn header, a C- or an A- line)",
                       fix="repair or remove the line")
        report.notes["malformed lines skipped"] += 1
    close()
    return n_headers


def _start_turn(m: re.Match, where: str, rel: str, root: Path, session: int, dialog: str, cs,
                report: ReportBuilder, consensus_in_set: bool, check_audio: bool,
                ids: IdSelection | None) -> tuple[Pending | None, bool]:
    """Build the pending record of a turn header; returns (record, keep)."""
    utt = m["utt"]
    ident = parse_utterance_id(utt)
    if ident is None or ident["dialog"] != dialog or ident["session"] != session:
        expected = f"'{dialog}_F000'-style id of Session{session}"
        report.problem(where, f"turn id {utt!r} does not belong to this file (expected a {expected})",
                       fix="check that the file is in the right session folder")
        report.skip("turn id does not match its file")
        return None, False
    first = report.seen_ids.get(utt)
    if first is not None:
        report.problem(where, f"turn {utt} appears twice (first at {first})", fix="remove the repeated block")
        report.skip("repeated turn")
        return None, False
    report.seen_ids[utt] = where
    if ids is not None and not ids.wants(utt):  # before anything else: a turn not asked for needs no checks
        report.skip(NOT_LISTED, utt=utt)
        return None, False
    code = m["code"]
    known, consensus_class = map_or_fail(cs, code, report, where)
    if not known:
        report.skip("unknown consensus code", utt=utt)
        return None, False
    if consensus_in_set and consensus_class is None:  # before the audio check: a turn left out needs no wav
        report.skip("consensus outside class set", utt=utt)
        return None, False
    rel_wav = f"Session{session}/sentences/wav/{dialog}/{utt}.wav"
    wav = f"{root}{os.sep}{rel_wav}"  # root is absolute and resolved: plain strings are 10x faster than Path
    if check_audio:
        why = audio_problem(wav)
        if why is not None:
            report.problem(where, f"audio file {rel_wav} of turn {utt} is {why}",
                           fix=f"restore the wav from the release ({CHECK_AUDIO_HINT})")
            report.skip("missing audio" if why == "missing" else "unusable audio", utt=utt)
            return None, False
    base = {
        "id": utt, "corpus": "iemocap", "session": session, "dialog": dialog, "method": ident["method"],
        "speaker": ident["speaker"], "gender": ident["gender"],
        "start": float(m["start"]), "end": float(m["end"]),
        "audio": wav, "transcript": "",
        "consensus_label": code, "consensus_class": consensus_class or "",
        "valence": float(m["v"]), "activation": float(m["a"]), "dominance": float(m["d"]),
    }
    return Pending(base=base, annotators=[], raw_answers=[], labels=[], other_text=[], where=where), True
