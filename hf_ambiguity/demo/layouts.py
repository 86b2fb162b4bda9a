"""Writers of small corpora in the exact IEMOCAP and MSP-Podcast release layouts, quirks included.

Used by the tests (no real corpus is ever committed) and by :func:`hf_ambiguity.demo.make_demo_corpus`. With
``quirks=True`` the files carry what the real releases carry: Windows line endings, trailing tabs, macOS ``._*``
resource files, sub-folders the readers must ignore, latin-1 text, transcript lines of unrated turns, the
``labels_concensus.csv`` spelling (MSP-Podcast up to v1.9), CSV-quoted ``EmoDetail`` fields. MSP-Podcast label
files are written in any of the release layouts (``label_layout``: v1.7-1.12 ``EmoDetail`` CSV, release 2.0
per-column CSV, JSON; see :mod:`hf_ambiguity.corpora.msp_labels`).
What goes *into* the files (multi-emotion answers, 'Other' with free text, empty answers, self-evaluations, 3 to
30 evaluators, duplicate workers) is whatever the turns/utterances passed in say; :func:`example_iemocap_turns`
and :func:`example_msp_utterances` hold one of each.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from hf_ambiguity.audio import SAMPLING_RATE, encode_wav
from hf_ambiguity.demo.audio import voiced_signal

__all__ = [
    "Evaluation", "IemocapTurn", "write_iemocap_layout", "example_iemocap_turns",
    "Worker", "MspUtterance", "write_msp_layout", "example_msp_utterances",
]

_APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02\xff\xfe\x80\x81"


@dataclass(frozen=True)
class Evaluation:
    """One evaluator's lines of a turn: ``C-<evaluator>:`` (labels as written, ``()`` = empty answer, ``text`` in
    the parentheses) and, unless ``vad`` is None, ``A-<evaluator>:``. ``E<n>`` = outside, ``F<s>``/``M<s>`` = self."""

    evaluator: str
    labels: tuple[str, ...]
    text: str = ""
    vad: tuple[int, int, int] | None = (3, 3, 3)


@dataclass(frozen=True)
class IemocapTurn:
    """One rated turn: id (``Ses01F_impro01_F000``), header consensus code, evaluations, header V/A/D, times
    (default: consecutive), transcript, and clip duration in seconds."""

    utt_id: str
    consensus: str
    evaluations: tuple[Evaluation, ...]
    vad: tuple[float, float, float] = (2.5, 2.5, 2.5)
    start: float | None = None
    end: float | None = None
    transcript: str = "Hello there."
    duration: float = 0.3


_UTT = re.compile(r"^(?P<dialog>Ses(?P<session>\d{2})[FM]_.+)_[FM]\d{3}$")

AudioFn = Callable[[object, int], np.ndarray]


def _default_audio(item: object, sample_rate: int) -> np.ndarray:
    key = getattr(item, "utt_id", None) or getattr(item, "file_name", "")
    seed = zlib.crc32(str(key).encode())
    return voiced_signal(getattr(item, "duration", 0.3), f0=110 + seed % 120, sample_rate=sample_rate, seed=seed)


def _write_wav(path: Path, x: np.ndarray, sample_rate: int) -> None:
    """16-bit PCM wav, encoded in memory (libsndfile syncs every file it closes to disk: 2 ms a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_wav(x, sample_rate))


def _write_text(path: Path, lines: Sequence[str], *, crlf: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    eol = "\r\n" if crlf else "\n"
    path.write_bytes((eol.join(lines) + eol).encode("latin-1"))


def write_iemocap_layout(
    root: str | Path,
    utterances: Sequence[IemocapTurn] | None = None,
    *,
    quirks: bool = True,
    sample_rate: int = SAMPLING_RATE,
    audio: AudioFn | None = None,
) -> Path:
    """Write ``utterances`` (default :func:`example_iemocap_turns`) as an ``IEMOCAP_full_release`` folder at
    ``root`` and return ``root``. ``audio(turn, sample_rate)`` gives each clip (default: a short voiced signal).

    Per dialog (in first-seen order): ``Session<n>/dialog/EmoEvaluation/<dialog>.txt``,
    ``Session<n>/dialog/transcriptions/<dialog>.txt`` and ``Session<n>/sentences/wav/<dialog>/<utt>.wav``.
    """
    root = Path(root)
    turns = list(example_iemocap_turns() if utterances is None else utterances)
    audio = audio or _default_audio
    dialogs: dict[str, list[IemocapTurn]] = {}
    for t in turns:
        m = _UTT.match(t.utt_id)
        if not m:
            raise ValueError(f"turn id {t.utt_id!r} is not an IEMOCAP id like 'Ses01F_impro01_F000'")
        dialogs.setdefault(m["dialog"], []).append(t)
    tab = "\t" if quirks else ""
    for dialog, items in dialogs.items():
        session = int(dialog[3:5])
        sdir = root / f"Session{session}"
        emo = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        trn = []
        clock = 1.0
        for k, t in enumerate(items):
            clip = audio(t, sample_rate)
            start = t.start if t.start is not None else clock
            end = t.end if t.end is not None else round(start + len(clip) / sample_rate, 4)
            clock = end + 0.5
            v, a, d = t.vad
            emo.append(f"[{start:.4f} - {end:.4f}]\t{t.utt_id}\t{t.consensus}\t[{v:.4f}, {a:.4f}, {d:.4f}]")
            for e in t.evaluations:
                answer = "".join(f"{lab}; " for lab in e.labels).rstrip() if e.labels else ";"
                emo.append(f"C-{e.evaluator}:\t{answer}\t({e.text}){tab}")
            for e in t.evaluations:
                if e.vad is not None:
                    emo.append(f"A-{e.evaluator}:\tval {e.vad[0]}; act {e.vad[1]}; dom  {e.vad[2]};\t(){tab}")
            emo.append("")
            if quirks and k == 0:  # an unrated turn of the other speaker and a line without an id
                trn.append(f"{dialog}_MXX0 [{max(0.0, start - 0.9):08.4f}-{start - 0.1:08.4f}]: [LAUGHTER]")
                trn.append("M: [BREATHING]")
            trn.append(f"{t.utt_id} [{start:08.4f}-{end:08.4f}]: {t.transcript}")
            _write_wav(sdir / "sentences" / "wav" / dialog / f"{t.utt_id}.wav", clip, sample_rate)
            if quirks and k == 0:
                (sdir / "sentences" / "wav" / dialog / f"._{t.utt_id}.wav").write_bytes(_APPLE_DOUBLE)
        _write_text(sdir / "dialog" / "EmoEvaluation" / f"{dialog}.txt", emo, crlf=quirks)
        _write_text(sdir / "dialog" / "transcriptions" / f"{dialog}.txt", trn, crlf=quirks)
        if quirks:
            for sub in ("EmoEvaluation", "transcriptions"):
                (sdir / "dialog" / sub / f"._{dialog}.txt").write_bytes(_APPLE_DOUBLE)
            cat = sdir / "dialog" / "EmoEvaluation" / "Categorical" / f"{dialog}_e1_cat.txt"
            _write_text(cat, [f"{t.utt_id} :Neutral state; ()" for t in items], crlf=True)
    return root


def example_iemocap_turns() -> list[IemocapTurn]:
    """One turn per quirk, across sessions 1, 3 and 5 (votes per class set are asserted in the tests)."""
    E = Evaluation
    return [
        IemocapTurn("Ses01F_impro01_F000", "neu", (
            E("E1", ("Neutral",)), E("E2", ("Neutral",)), E("E3", ("Neutral state",)),
            E("F1", ("Neutral",), "curious")), transcript="Excuse me."),
        IemocapTurn("Ses01F_impro01_M000", "fru", (
            E("E1", ("Frustration", "Anger")), E("E2", ("Anger",), vad=None), E("E3", ("Frustration",)),
            E("M1", ("Anger",))), vad=(2.0, 3.5, 3.5), transcript="Do you have your forms?"),
        IemocapTurn("Ses01F_impro01_F001", "xxx", (
            E("E1", ("Other",), "disbelief"), E("E2", ("Surprise",)), E("E3", ("Frustration",))),
            transcript="Caf\u00e9? No, the other line."),
        IemocapTurn("Ses03M_impro05a_M001", "exc", (
            E("E1", ("Excited",)), E("E2", ("Happiness",)), E("E4", ("Excited",)), E("F3", ())),
            vad=(4.0, 4.0, 3.0), transcript="I got in!"),
        IemocapTurn("Ses03M_impro05b_F002", "ang", (
            E("E2", ("Anger",)), E("E3", ()), E("E4", ("Anger", "Frustration", "Other"), "annoyed"),
            E("E5", ("Anger",))), vad=(1.5, 4.5, 4.0), transcript="Stop it."),
        IemocapTurn("Ses05M_script01_1b_F012", "sad", (
            E("E1", ("Sadness",)), E("E2", ("Sadness", "Neutral")), E("E3", ("Sadness",)),
            E("M5", ("Sadness",))), vad=(1.5, 2.0, 2.0), transcript="I miss him."),
        IemocapTurn("Ses05M_script01_1b_M003", "hap", tuple(
            E(f"E{i}", ("Happiness",) if i <= 18 else ("Neutral",) if i <= 27 else ("Anger",))
            for i in range(1, 31)), vad=(4.0, 3.0, 3.0), transcript="That is wonderful news."),
    ]


# ---------------------------------------------------------------------------------------------------- MSP-Podcast


@dataclass(frozen=True)
class Worker:
    """One ``labels_detailed.csv`` row: worker id, primary (as written, e.g. ``Other-sarcastic``), secondaries,
    attributes A/V/D on 1-7."""

    worker: str
    primary: str
    secondary: tuple[str, ...] = ()
    avd: tuple[float, float, float] = (4.0, 4.0, 4.0)


@dataclass(frozen=True)
class MspUtterance:
    """One MSP-Podcast file: consensus row fields, its workers, and its transcript (None = no transcript file)."""

    file_name: str
    split: str
    consensus: str
    workers: tuple[Worker, ...]
    avd: tuple[float, float, float] = (4.0, 4.0, 4.0)
    speaker: str = "Unknown"
    gender: str = "Unknown"
    transcript: str | None = None
    duration: float = 0.3


def write_msp_layout(
    root: str | Path,
    utterances: Sequence[MspUtterance] | None = None,
    *,
    quirks: bool = True,
    consensus_spelling: str = "consensus",
    label_layout: str = "emodetail",
    sample_rate: int = SAMPLING_RATE,
    audio: AudioFn | None = None,
) -> Path:
    """Write ``utterances`` (default :func:`example_msp_utterances`) in an MSP-Podcast release layout at ``root``:
    ``Audios/<file>``, ``Labels/labels_<consensus_spelling>.csv`` (``"concensus"`` = the pre-1.10 spelling),
    ``Labels/labels_detailed.csv``, ``Transcripts/<stem>.txt``. Returns ``root``.

    ``label_layout``: ``emodetail`` (default; ``FileName,EmoDetail``, v1.7-1.12), ``columns`` (release 2.0:
    ``FileName,WorkerID,EmoClass_Major,EmoClass_Second,EmoAct,EmoVal,EmoDom``) or ``json``
    (``labels_<consensus_spelling>.json`` + ``labels_detailed.json``; a worker's repeated rows cannot be
    represented in a JSON object, so only the first is written).
    """
    if consensus_spelling not in ("consensus", "concensus"):
        raise ValueError(f"consensus_spelling must be 'consensus' or 'concensus', got {consensus_spelling!r}")
    if label_layout not in ("emodetail", "columns", "json"):
        raise ValueError(f"label_layout must be 'emodetail', 'columns' or 'json', got {label_layout!r}")
    root = Path(root)
    items = list(example_msp_utterances() if utterances is None else utterances)
    audio = audio or _default_audio
    (root / "Labels").mkdir(parents=True, exist_ok=True)
    eol = "\r\n" if quirks else "\n"
    cons = io.StringIO()
    w = csv.writer(cons, lineterminator=eol)
    w.writerow(["FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set"])
    det = io.StringIO()
    wd = csv.writer(det, lineterminator=eol)  # quotes EmoDetail exactly when it holds a comma
    wd.writerow(["FileName", "EmoDetail"] if label_layout == "emodetail" else
                ["FileName", "WorkerID", "EmoClass_Major", "EmoClass_Second", "EmoAct", "EmoVal", "EmoDom"])
    cons_json: dict[str, dict] = {}
    det_json: dict[str, dict] = {}
    for u in items:
        avd = ["" if np.isnan(x) else f"{x:.6f}" for x in u.avd]  # Test3: labels hidden, fields empty
        w.writerow([u.file_name, u.consensus, *avd, u.speaker, u.gender, u.split])
        cons_json[u.file_name] = {"EmoClass": u.consensus, "EmoAct": _json_number(u.avd[0]),
                                  "EmoVal": _json_number(u.avd[1]), "EmoDom": _json_number(u.avd[2]),
                                  "SpkrID": u.speaker, "Gender": u.gender, "Split_Set": u.split}
        for wk in u.workers:
            if label_layout == "emodetail":
                detail = (f"{wk.worker}; {wk.primary}; {','.join(wk.secondary)}; A:{wk.avd[0]:.6f}; "
                          f"V:{wk.avd[1]:.6f}; D:{wk.avd[2]:.6f};")
                wd.writerow([u.file_name, detail])
            else:
                wd.writerow([u.file_name, wk.worker, wk.primary, ",".join(wk.secondary),
                             *(f"{x:.6f}" for x in wk.avd)])
            det_json.setdefault(u.file_name, {}).setdefault(wk.worker, {
                "EmoClass_Major": wk.primary, "EmoClass_Second": ",".join(wk.secondary),
                "EmoAct": wk.avd[0], "EmoVal": wk.avd[1], "EmoDom": wk.avd[2]})
        _write_wav(root / "Audios" / u.file_name, audio(u, sample_rate), sample_rate)
        if u.transcript is not None:
            tpath = root / "Transcripts" / (Path(u.file_name).stem + ".txt")
            tpath.parent.mkdir(parents=True, exist_ok=True)
            tpath.write_text(u.transcript + ("\n" if not quirks else ""), encoding="utf-8")
    if label_layout == "json":
        (root / "Labels" / f"labels_{consensus_spelling}.json").write_text(json.dumps(cons_json, indent=4),
                                                                           encoding="utf-8")
        (root / "Labels" / "labels_detailed.json").write_text(json.dumps(det_json, indent=4), encoding="utf-8")
    else:
        (root / "Labels" / f"labels_{consensus_spelling}.csv").write_text(cons.getvalue(), encoding="utf-8")
        (root / "Labels" / "labels_detailed.csv").write_text(det.getvalue(), encoding="utf-8")
    if quirks:
        (root / "Audios" / f"._{items[0].file_name}").write_bytes(_APPLE_DOUBLE)
    return root


def _json_number(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def example_msp_utterances() -> list[MspUtterance]:
    """One file per quirk across the five partitions (votes are asserted in the tests)."""
    W = Worker
    return [
        MspUtterance("MSP-PODCAST_0001_0001.wav", "Train", "H", (
            W("WORKER00000001", "Happy", ("Happy", "Excited"), (5, 6, 4)), W("WORKER0002", "Happy"),
            W("WORKER00000003", "Neutral", ("Amused",)), W("WORKER00000004", "Happy"),
            W("WORKER00000005", "Other-playful", ("Happy",))),
            avd=(5.2, 5.8, 4.4), speaker="0001", gender="Female", transcript="we had so much fun"),
        MspUtterance("MSP-PODCAST_0001_0002.wav", "Development", "A", (
            W("WORKER00000001", "Angry", ("Annoyed", "Frustrated")), W("WORKER00000002", "Angry"),
            W("WORKER00000002", "Angry"), W("WORKER00000006", "Contempt"), W("WORKER00000007", "Disgust"),
            W("WORKER00000008", "Angry")),
            avd=(5.5, 2.1, 5.0), speaker="0001", gender="Female", transcript="that is not acceptable"),
        MspUtterance("MSP-PODCAST_0002_0001.wav", "Test1", "X", (
            W("WORKER00000003", "Sad"), W("WORKER00000004", "Neutral"), W("WORKER00000005", "Surprise"),
            W("WORKER00000009", "Fear"), W("WORKER00000010", "Other-Confused, unsure", ("Confused",))),
            speaker="0002", gender="Male"),
        MspUtterance("MSP-PODCAST_0003_0001.wav", "Test2", "N", (
            W("WORKER1", "Neutral"), W("WORKER2", "Neutral"), W("WORKER3", "Neutral"), W("WORKER4", "Sad"),
            W("WORKER5", "Neutral")), speaker="Unknown", gender="Unknown", transcript="okay so"),
        MspUtterance("MSP-PODCAST_0004_0001.wav", "Test3", "", (), avd=(float("nan"),) * 3),
    ]
