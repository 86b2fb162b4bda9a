"""What every corpus reader shares: the result/report types, the format error, and the per-utterance derivation of
votes, distribution, entropy, ambiguity level and majority from the raw answers.

A reader parses its corpus into :class:`Pending` records (identity + raw answers), then :func:`finish_rows` turns
them into rows with exactly the :mod:`hf_ambiguity.schema` columns. Ambiguity by terciles needs every kept
utterance at once, so rows are completed only after the whole corpus is parsed.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hf_ambiguity.distributions import (
    fixed_levels,
    majority,
    normalized_entropy,
    reference_label_entropy,
    tercile_levels,
    votes_from_answers,
    votes_to_distribution,
)
from hf_ambiguity.labels import ClassSet, UnknownLabelError
from hf_ambiguity.schema import AMBIGUITY_LEVELS

__all__ = ["CorpusFormatError", "ReadReport", "ReadResult", "AMBIGUITY_MODES", "ReportBuilder", "Pending",
           "finish_rows", "check_ambiguity_options", "map_or_fail", "audio_problem"]

AMBIGUITY_MODES = ("reference", "fixed")


class CorpusFormatError(ValueError):
    """The corpus on disk does not have the expected layout or content. The message names the file (and line) and
    says what to do; ``lenient`` reading (``strict=False``) skips and counts such input instead."""


@dataclass(frozen=True)
class ReadReport:
    """What a reader did: how many utterances it read, kept and skipped (and why), labels dropped, class and
    ambiguity counts, and every skipped problem as ``"file:line: what"``.

    ``skipped`` maps a reason to the number of utterances skipped for it; ``dropped_labels`` maps a raw label (as
    written) to how often it fell outside the class set; ``class_counts`` counts the kept utterances' majority
    labels; ``notes`` holds other counts (self-evaluations excluded, empty answers, lines skipped...);
    ``warnings`` says what looks wrong about the corpus as a whole (e.g. a total that differs from the release).
    """

    corpus: str
    class_set: str
    utterances_read: int
    utterances_kept: int
    skipped: dict[str, int]
    dropped_labels: dict[str, int]
    class_counts: dict[str, int]
    ambiguity_counts: dict[str, int]
    notes: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)

    def as_markdown(self, *, max_problems: int = 20) -> str:
        """The closing report as markdown (tables of counts, then warnings and the first ``max_problems``)."""
        out = [f"## {self.corpus} read report (class set `{self.class_set}`)", "",
               f"- utterances read: {self.utterances_read}",
               f"- utterances kept: {self.utterances_kept}",
               f"- utterances skipped: {sum(self.skipped.values())}"]
        if self.options:
            out.append("- options: " + ", ".join(f"{k}={v!r}" for k, v in self.options.items()))

        def table(title: str, head: str, counts: dict[str, int]) -> None:
            out.extend(["", f"### {title}", ""])
            if not counts:
                out.append("(none)")
                return
            out.extend([f"| {head} | count |", "|---|---:|"])
            out.extend(f"| {k} | {v} |" for k, v in counts.items())

        table("Skipped utterances", "reason", self.skipped)
        table("Classes (majority label of kept utterances)", "class", self.class_counts)
        table("Ambiguity levels", "level", self.ambiguity_counts)
        table("Labels outside the class set (dropped from the votes)", "label", self.dropped_labels)
        if self.notes:
            table("Notes", "what", self.notes)
        if self.warnings:
            out.extend(["", "### Warnings", ""] + [f"- {w}" for w in self.warnings])
        if self.problems:
            out.extend(["", f"### Problems skipped in lenient mode ({len(self.problems)})", ""])
            out.extend(f"- {p}" for p in self.problems[:max_problems])
            if len(self.problems) > max_problems:
                out.append(f"- ... and {len(self.problems) - max_problems} more")
        return "\n".join(out) + "\n"


@dataclass(frozen=True)
class ReadResult:
    """``rows``: one dict per kept utterance with exactly the schema columns of the corpus; ``report``: counts."""

    rows: list[dict[str, Any]]
    report: ReadReport
    class_names: tuple[str, ...] = ()


@dataclass
class Pending:
    """One parsed utterance before its votes are derived: identity columns plus each annotator's raw answer."""

    base: dict[str, Any]          # identity + consensus columns, in schema order
    annotators: list[str]         # annotator ids
    raw_answers: list[str]        # each annotator's categorical answer as written
    labels: list[list[str]]       # each annotator's labels, split (unknown labels already removed in lenient mode)
    other_text: list[str]         # free text per annotator ("" when none)
    extra: dict[str, Any] = field(default_factory=dict)  # corpus columns that come after other_text
    where: str = ""               # "file:line" of the utterance, for messages


class ReportBuilder:
    """Mutable counters a reader fills while parsing; :meth:`freeze` makes the :class:`ReadReport`."""

    def __init__(self, corpus: str, class_set: ClassSet, strict: bool) -> None:
        self.corpus, self.class_set, self.strict = corpus, class_set, strict
        self.read = 0
        self.skipped: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.notes: Counter[str] = Counter()
        self.warnings: list[str] = []
        self.problems: list[str] = []
        self.seen_ids: dict[str, str] = {}  # utterance id -> "file:line" where it was first read

    def problem(self, where: str, what: str, *, fix: str = "") -> None:
        """A bad piece of input: raise in strict mode, record it in lenient mode (the caller then skips it)."""
        if self.strict:
            hint = f"; {fix}" if fix else ""
            raise CorpusFormatError(f"{where}: {what}{hint} (or read with strict=False to skip and count it)")
        self.problems.append(f"{where}: {what}")

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def freeze(self, kept_rows: list[dict[str, Any]], options: dict[str, Any]) -> ReadReport:
        classes = Counter(r["majority_label"] for r in kept_rows)
        levels = Counter(r["ambiguity"] for r in kept_rows)
        return ReadReport(
            corpus=self.corpus,
            class_set=self.class_set.name,
            utterances_read=self.read,
            utterances_kept=len(kept_rows),
            skipped=dict(sorted(self.skipped.items())),
            dropped_labels=dict(self.dropped.most_common()),
            class_counts={c: classes.get(c, 0) for c in self.class_set.names},
            ambiguity_counts={lv: levels.get(lv, 0) for lv in AMBIGUITY_LEVELS},
            notes=dict(sorted(self.notes.items())),
            warnings=list(self.warnings),
            problems=list(self.problems),
            # JSON-native (tuples -> lists), so a report stored with a cached build compares equal to a fresh one
            options=json.loads(json.dumps(dict(options))),
        )


def check_ambiguity_options(ambiguity: str, cuts: tuple[float, float], multi_label: str = "fractional") -> None:
    """Validate option strings up front, so a typo fails before a long parse."""
    if ambiguity not in AMBIGUITY_MODES:
        raise ValueError(f"ambiguity must be one of {list(AMBIGUITY_MODES)}, got {ambiguity!r}")
    if multi_label not in ("fractional", "whole"):
        raise ValueError(f"multi_label must be one of ['fractional', 'whole'], got {multi_label!r}")
    if len(cuts) != 2 or not (0.0 <= cuts[0] < cuts[1] <= 1.0):
        raise ValueError(f"ambiguity_cuts must be two numbers 0 <= low < high <= 1, got {tuple(cuts)}")


def map_or_fail(class_set: ClassSet, raw: str, report: ReportBuilder, where: str) -> tuple[bool, str | None]:
    """Map a raw label; on an unknown spelling raise (strict) or record it (lenient). Returns (known, class)."""
    try:
        return True, class_set.map_label(raw)
    except UnknownLabelError:
        report.problem(where, f"unknown emotion label {raw!r}",
                       fix=f"correct it to one of the corpus spellings of class set {class_set.name!r}")
        report.notes["unknown labels skipped"] += 1
        return False, None


def audio_problem(path: str) -> str | None:
    """Why the audio file at ``path`` cannot be used (``"missing"`` / ``"unreadable (...)"``), or None.

    A RIFF/WAVE header is checked by reading its first 12 bytes (fast enough for 100k files); anything else is
    opened with ``soundfile.info`` so that other formats libsndfile reads are accepted.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if len(head) == 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return None
    try:
        import soundfile

        soundfile.info(path)
    except Exception as exc:  # LibsndfileError / RuntimeError on corrupt or non-audio files
        return f"unreadable ({str(exc).strip() or type(exc).__name__})"
    return None


def finish_rows(
    pending: list[Pending],
    class_set: ClassSet,
    report: ReportBuilder,
    *,
    multi_label: Literal["fractional", "whole"],
    ambiguity: Literal["reference", "fixed"],
    cuts: tuple[float, float],
) -> list[dict[str, Any]]:
    """Votes, distribution, entropy, ambiguity level and majority for every pending utterance.

    Utterances whose votes all fall outside the class set are skipped and counted (``"no in-set votes"``; with no
    answer at all: ``"no evaluator answers"``), never given a NaN distribution. ``entropy`` holds the score the
    chosen ``ambiguity`` definition ranks: the reference label-list entropy (:func:`reference_label_entropy`) or the
    class-count-normalised entropy of ``human_dist``.
    """
    kept: list[tuple[Pending, np.ndarray, list[str], list[str]]] = []
    for p in pending:
        votes, labels, dropped = votes_from_answers(p.labels, class_set, multi_label=multi_label)
        # MSP-Podcast's free-text 'Other-<text>' answers are tallied together so the report stays readable
        report.dropped.update("Other-<free text>" if d.lower().startswith("other-") else d for d in dropped)
        if votes.sum() <= 0:
            report.skip("no in-set votes" if any(p.labels) else "no evaluator answers")
            continue
        kept.append((p, votes, labels, dropped))
    if not kept:
        return []
    votes_all = np.stack([k[1] for k in kept])
    dist_all = votes_to_distribution(votes_all)
    if ambiguity == "reference":
        entropy = np.array([reference_label_entropy(k[2]) for k in kept])
        levels = tercile_levels(entropy)
    else:
        entropy = normalized_entropy(dist_all, n_classes=class_set.num_classes)
        levels = fixed_levels(entropy, cuts)
    idx, strict = majority(votes_all)
    rows = []
    for i, (p, votes, labels, dropped) in enumerate(kept):
        row = dict(p.base)
        row.update(
            annotators=list(p.annotators),
            raw_answers=list(p.raw_answers),
            other_text=list(p.other_text),
        )
        row.update(p.extra)
        row.update(
            human_labels=labels,
            human_votes=[float(x) for x in votes],
            human_dist=[float(x) for x in dist_all[i]],
            n_annotators=int(sum(1 for a in p.labels if a)),
            n_dropped_labels=len(dropped),
            entropy=float(entropy[i]),
            ambiguity=levels[i],
            majority_label=class_set.names[int(idx[i])],
            has_majority=bool(strict[i]),
        )
        rows.append(row)
    return rows
