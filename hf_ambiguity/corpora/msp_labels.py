"""The label files of MSP-Podcast releases, in every layout the releases users hold are known to use, detected from
the files themselves (never from a version number the user has to know).

Per-file consensus (one record per audio file; ``FileName, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender,
Split_Set``):

- ``labels_consensus.csv`` (``labels_concensus.csv`` up to v1.9);
- ``labels_consensus.json`` / ``labels_concensus.json``: ``{"<file>": {"EmoClass": ..., ...}}``, or with the record
  wrapped in a one-element list and the class called ``EmoClass_Major``.

Per-worker answers (one record per worker and file), three layouts (:data:`DETAILED_LAYOUTS`):

- ``emodetail``: ``labels_detailed.csv`` with ``FileName, EmoDetail``, ``EmoDetail`` =
  ``WORKER00012345; Happy; Happy,Excited; A:5.0; V:4.0; D:4.0;`` (v1.7 to v1.12);
- ``columns``: ``labels_detailed.csv`` with one column per field, ``FileName, WorkerID, EmoClass_Major,
  EmoClass_Second, EmoAct, EmoVal, EmoDom`` (release 2.0; v1.6 spells the worker column ``Workers``);
- ``json``: ``labels_detailed.json``, ``{"<file>": {"<worker>": {"EmoClass_Major": ..., "EmoClass_Second": ...,
  "EmoAct": ..., "EmoVal": ..., "EmoDom": ...}}}`` (v1.6 and other JSON-era releases; the MSP-Face form
  ``{"<file>": {"Workers": [{"Name": ..., ...}]}}`` is read too).

The label folder is ``Labels/`` (``labels/`` in v1.9, ``label/`` in v1.6). When both a CSV and a JSON file are
present the CSV is read. A file that matches no layout is an error that lists the layouts known.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from hf_ambiguity.corpora.report import ReportBuilder
from hf_ambiguity.corpora.text import unreadable_message
from hf_ambiguity.errors import CorpusFormatError
from hf_ambiguity.labels import get_class_set, normalise_spelling

__all__ = ["LabelFiles", "find_label_files", "read_consensus", "read_detailed", "parse_emo_detail",
           "DETAILED_LAYOUTS", "KNOWN_LAYOUTS_TEXT", "LABEL_DIRS"]

LABEL_DIRS = ("Labels", "labels", "label")
_CONSENSUS_NAMES = ("labels_consensus", "labels_concensus")
CONSENSUS_COLUMNS = ("FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set")
DETAILED_LAYOUTS = {
    "emodetail": "labels_detailed.csv with columns FileName, EmoDetail ('WORKER; Primary; Secondary,...; A:x; V:x; "
                 "D:x;'), MSP-Podcast v1.7 to v1.12",
    "columns": "labels_detailed.csv with columns FileName, WorkerID (or Workers), EmoClass_Major, EmoClass_Second, "
               "EmoAct, EmoVal, EmoDom, MSP-Podcast 2.0 (and v1.6)",
    "json": "labels_detailed.json mapping each file to its workers' EmoClass_Major, EmoClass_Second, EmoAct, EmoVal, "
            "EmoDom (JSON-era releases)",
}
KNOWN_LAYOUTS_TEXT = ("known MSP-Podcast label layouts: labels_consensus.csv / labels_concensus.csv / "
                      "labels_consensus.json (FileName, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender, Split_Set) "
                      "with one of: " + "; ".join(DETAILED_LAYOUTS.values()))
_WORKER_COLUMNS = ("WorkerID", "Workers", "Worker", "WorkerId")
_ATTR = re.compile(r"^(?P<k>[AVD])\s*:\s*(?P<v>[-+]?\d+(?:\.\d*)?)$")
_ATTR_LIKE = re.compile(r"^[AVD]\s*:")
#: Every MSP-Podcast emotion spelling (primary and secondary vocabulary), to find where secondary answers start.
_MSP_VOCABULARY = frozenset(get_class_set("msp-8").canonical)
_GENDERS = {"female": "female", "f": "female", "male": "male", "m": "male", "unknown": "unknown", "": "unknown"}


@dataclass(frozen=True)
class LabelFiles:
    """The label files found: consensus (``.csv`` or ``.json``) and per-worker answers with their layout."""

    consensus: Path
    detailed: Path
    layout: str  # a key of DETAILED_LAYOUTS

    def describe(self, root: Path) -> str:
        return (f"{self.consensus.relative_to(root).as_posix()} + {self.detailed.relative_to(root).as_posix()} "
                f"({self.layout} layout)")


def find_label_files(root: Path) -> LabelFiles:
    """Locate the consensus and per-worker label files under ``root`` and detect the per-worker layout."""
    folders = [root / d for d in LABEL_DIRS if (root / d).is_dir()]
    if not folders:
        raise CorpusFormatError(f"{str(root)!r} has no Labels/ folder; pass the MSP-Podcast release folder that holds "
                                f"Audios/ and Labels/ ({KNOWN_LAYOUTS_TEXT})")
    labels = folders[0]
    consensus = next((labels / f"{n}.{ext}" for ext in ("csv", "json") for n in _CONSENSUS_NAMES
                      if (labels / f"{n}.{ext}").is_file()), None)
    if consensus is None:
        raise CorpusFormatError(f"{str(labels)!r} has no labels_consensus.csv (or labels_concensus.csv, "
                                f"labels_consensus.json); pass the MSP-Podcast release folder ({KNOWN_LAYOUTS_TEXT})")
    csv_path, json_path = labels / "labels_detailed.csv", labels / "labels_detailed.json"
    if csv_path.is_file():
        return LabelFiles(consensus, csv_path, _csv_layout(csv_path, root))
    if json_path.is_file():
        return LabelFiles(consensus, json_path, "json")
    raise CorpusFormatError(f"{str(csv_path)!r} is missing (and there is no labels_detailed.json): the per-worker "
                            f"votes come from it; restore it from the release ({KNOWN_LAYOUTS_TEXT})")


def _csv_header(path: Path, root: Path) -> list[str]:
    rel = path.relative_to(root).as_posix()
    try:
        with path.open("rb") as fh:
            first = fh.readline().decode("utf-8-sig")
        return [h.strip() for h in next(csv.reader([first]), [])]
    except OSError as err:
        raise CorpusFormatError(f"{rel}: {unreadable_message(err)} (the votes come from this file, so it cannot "
                                "be skipped)") from None
    except UnicodeDecodeError:
        raise CorpusFormatError(f"{rel}:1: not UTF-8 text; restore the file from the release or re-save it as "
                                "UTF-8") from None


def _csv_layout(path: Path, root: Path) -> str:
    header = _csv_header(path, root)
    if "EmoDetail" in header:
        return "emodetail"
    if "EmoClass_Major" in header and any(c in header for c in _WORKER_COLUMNS):
        return "columns"
    raise CorpusFormatError(f"{path.relative_to(root).as_posix()}:1: header {header} matches no known per-worker "
                            f"layout; {KNOWN_LAYOUTS_TEXT}")


# ------------------------------------------------------------------------------------------------------ CSV rows


def csv_rows(path: Path, root: Path, report: ReportBuilder, *, required: tuple[str, ...] = (),
             free_text_last: str | None = None) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield ``(where, dict)`` per data row; a row with missing columns is an error (strict) or skipped.

    A row with more cells than the header is an error too, unless the extra cells are empty (a trailing comma) or
    the header's last column is ``free_text_last``, free text whose commas were not CSV-quoted: its cells are then
    joined back with ``,``, which restores the text exactly. A file that is not UTF-8 or cannot be read is an
    error naming it (the labels cannot be skipped).
    """
    rel = path.relative_to(root).as_posix()
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as err:
        raise CorpusFormatError(f"{rel}: {unreadable_message(err)} (the labels come from this file, so it cannot "
                                "be skipped)") from None
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, None)
            if header is None:
                raise CorpusFormatError(f"{rel}:1: the file is empty; restore it from the release")
            header = [h.strip() for h in header]
            missing = [c for c in required if c not in header]
            if missing:
                raise CorpusFormatError(f"{rel}:1: header lacks column(s) {missing} (has {header}); "
                                        f"{KNOWN_LAYOUTS_TEXT}")
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
        except OSError as err:
            raise CorpusFormatError(f"{rel}: {unreadable_message(err)}") from None


def _first_undecodable_line(path: Path) -> int:
    """1-based number of the first line of ``path`` that is not valid UTF-8 (0 when every line is)."""
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return lineno
    return 0


def _load_json(path: Path, root: Path) -> Any:
    rel = path.relative_to(root).as_posix()
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CorpusFormatError(f"{rel}: {unreadable_message(err)} (the labels come from this file, so it cannot "
                                "be skipped)") from None
    try:
        obj = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise CorpusFormatError(f"{rel}: not UTF-8 text; restore the file from the release") from None
    except json.JSONDecodeError as err:
        raise CorpusFormatError(f"{rel}:{err.lineno}: not valid JSON ({err.msg}, column {err.colno}); restore the "
                                "file from the release") from None
    if not isinstance(obj, dict):
        raise CorpusFormatError(f"{rel}: expected a JSON object mapping each audio file to its labels, got "
                                f"{type(obj).__name__}; {KNOWN_LAYOUTS_TEXT}")
    return obj


# ------------------------------------------------------------------------------------------------------ consensus


def _float(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def read_consensus(path: Path, root: Path, report: ReportBuilder) -> dict[str, dict[str, Any]]:
    """``FileName`` → ``{"where", "split_raw", "code", "speaker", "gender", "activation", "valence",
    "dominance"}`` from a consensus CSV or JSON file. ``split_raw`` is ``Split_Set`` as written (the caller maps
    it onto a partition). Rows without a file name, repeated files and non-numeric attributes are errors
    (strict) or skipped and counted (lenient)."""
    out: dict[str, dict[str, Any]] = {}
    if path.suffix == ".json":
        records = _consensus_json(path, root)
    else:
        records = csv_rows(path, root, report, required=CONSENSUS_COLUMNS)
    for where, r in records:
        name = r.get("FileName", "")
        if not name:
            report.problem(where, "empty FileName", fix="repair the row from the release")
            report.notes[f"rows skipped in {path.name}"] += 1
            continue
        if name in out:
            report.problem(where, f"{name} is listed twice (first at {out[name]['where']})",
                           fix="remove the duplicate row")
            report.notes[f"rows skipped in {path.name}"] += 1
            continue
        attrs = {k: r.get(k, "") for k in ("EmoAct", "EmoVal", "EmoDom")}
        bad = [k for k, v in attrs.items() if v != "" and math.isnan(_float(v))]
        if bad:
            report.problem(where, f"{bad[0]} is {attrs[bad[0]]!r}, not a number", fix="repair the row from the release")
            report.notes[f"rows skipped in {path.name}"] += 1
            continue
        if not all(v != "" for v in attrs.values()):
            report.notes["files without consensus attributes (NaN)"] += 1
        gender = r.get("Gender", "")
        out[name] = {
            "where": where, "split_raw": r.get("Split_Set", ""), "code": r.get("EmoClass", r.get("EmoClass_Major", "")),
            "speaker": r.get("SpkrID", "") or "Unknown", "gender": _GENDERS.get(gender.lower(), gender.lower()),
            "activation": _float(attrs["EmoAct"]), "valence": _float(attrs["EmoVal"]),
            "dominance": _float(attrs["EmoDom"]),
        }
    return out


def _text(value: Any) -> str:
    """A JSON field as the text a CSV would hold (numbers as written, null as empty)."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    return str(value).strip()


def _consensus_json(path: Path, root: Path) -> Iterator[tuple[str, dict[str, str]]]:
    rel = path.relative_to(root).as_posix()
    for name, record in _load_json(path, root).items():
        if isinstance(record, list) and len(record) == 1:
            record = record[0]
        if not isinstance(record, dict):
            raise CorpusFormatError(f"{rel}: the record of {name!r} is not an object of consensus fields; "
                                    f"{KNOWN_LAYOUTS_TEXT}")
        row = {k: _text(v) for k, v in record.items()}
        lacking = [k for k in ("Split_Set", "EmoClass") if k not in row and not (k == "EmoClass" and
                                                                                 "EmoClass_Major" in row)]
        if lacking:
            raise CorpusFormatError(f"{rel}: the record of {name!r} lacks {lacking} (has {sorted(row)}); "
                                    f"{KNOWN_LAYOUTS_TEXT}")
        row["FileName"] = str(name).strip()
        yield f"{rel}: {name}", row


# ------------------------------------------------------------------------------------------------------ per worker


def read_detailed(files: LabelFiles, root: Path, report: ReportBuilder) -> Iterator[tuple[str, str, dict[str, str]]]:
    """Yield ``(where, file name, {"worker", "primary", "secondary"})`` per worker answer, whatever the layout.
    An unparsable record is an error (strict) or skipped and counted (lenient)."""
    if files.layout == "emodetail":
        for where, r in csv_rows(files.detailed, root, report, required=("FileName", "EmoDetail"),
                                 free_text_last="EmoDetail"):
            d = parse_emo_detail(r["EmoDetail"])
            if d is None:
                report.problem(where, f"EmoDetail {r['EmoDetail']!r} is not 'WORKER; Primary; Secondary,...; A:x; "
                               "V:x; D:x;'", fix="repair the row from the release")
                report.notes["rows skipped in labels_detailed.csv"] += 1
                continue
            yield where, r["FileName"], d
    elif files.layout == "columns":
        for where, r in csv_rows(files.detailed, root, report, required=("FileName", "EmoClass_Major")):
            worker = next((r[c] for c in _WORKER_COLUMNS if c in r), "")
            d = {"worker": worker, "primary": r["EmoClass_Major"], "secondary": r.get("EmoClass_Second", "")}
            if not (worker and d["primary"]):
                report.problem(where, "worker id or EmoClass_Major is empty", fix="repair the row from the release")
                report.notes["rows skipped in labels_detailed.csv"] += 1
                continue
            yield where, r["FileName"], d
    else:
        yield from _detailed_json(files.detailed, root, report)


def _detailed_json(path: Path, root: Path, report: ReportBuilder) -> Iterator[tuple[str, str, dict[str, str]]]:
    rel = path.relative_to(root).as_posix()
    for name, workers in _load_json(path, root).items():
        if isinstance(workers, dict) and isinstance(workers.get("Workers"), list):
            items = [(_text(a.get("Name", a.get("WorkerID", ""))) if isinstance(a, dict) else "", a)
                     for a in workers["Workers"]]
        elif isinstance(workers, dict):
            items = list(workers.items())
        elif isinstance(workers, list):
            items = [(_text(a.get("Name", a.get("WorkerID", ""))) if isinstance(a, dict) else "", a) for a in workers]
        else:
            items = []
        if not items:
            report.problem(f"{rel}: {name}", "no worker record (expected an object of workers)",
                           fix=f"restore the file from the release; {KNOWN_LAYOUTS_TEXT}")
            report.notes[f"records skipped in {path.name}"] += 1
            continue
        for worker, ann in items:
            where = f"{rel}: {name} / {worker}"
            primary = _text(ann.get("EmoClass_Major")) if isinstance(ann, dict) else ""
            if not (str(worker).strip() and primary):
                report.problem(where, "worker record without a worker id or EmoClass_Major",
                               fix="repair the record from the release")
                report.notes[f"records skipped in {path.name}"] += 1
                continue
            yield where, str(name).strip(), {"worker": str(worker).strip(), "primary": primary,
                                             "secondary": _text(ann.get("EmoClass_Second"))}


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
    if is_other(middle[0]):
        cut = next((k for k in range(1, len(middle)) if _starts_answer(middle[k])), len(middle))
    return {"worker": raw[0].strip(), "primary": ";".join(middle[:cut]).strip(),
            "secondary": ";".join(middle[cut:]).strip(), "attributes": attributes}


def is_other(text: str) -> bool:
    """Whether an answer is 'Other' (``Other``, ``Other-<free text>``, ``Other(<free text>)``)."""
    t = text.strip().lower()
    return t == "other" or t.startswith("other-") or t.startswith("other(")


def other_text(answer: str) -> str:
    """The free text of an 'Other' answer (``Other-bored`` → ``bored``), or ``""``."""
    a = answer.strip()
    low = a.lower()
    if low.startswith("other-"):
        return a.split("-", 1)[1].strip()
    if low.startswith("other(") and a.endswith(")"):
        return a[6:-1].strip()
    return ""


def _starts_answer(part: str) -> bool:
    """Whether a ``;``-separated piece of ``EmoDetail`` begins a list of emotion answers (or is an empty list)."""
    first = normalise_spelling(part.split(",")[0])
    return not first or is_other(first) or (len(first) > 1 and first in _MSP_VOCABULARY)
