"""What a corpus reader reports: counts of utterances read, kept and skipped (and why), labels dropped, and every
problem skipped in lenient mode; :class:`ReportBuilder` is the mutable form a reader fills while parsing.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hf_ambiguity.errors import CorpusFormatError
from hf_ambiguity.labels import ClassSet
from hf_ambiguity.schema import AMBIGUITY_LEVELS

__all__ = ["ReadReport", "ReadResult", "ReportBuilder", "LENIENT_HINT", "CHECK_AUDIO_HINT"]

#: How a user asks for lenient reading, on the command line and in a pipeline config.
LENIENT_HINT = "pass --lenient / set corpus.lenient: true"
#: How a user turns the audio check off (``hf-ambiguity build`` only).
CHECK_AUDIO_HINT = "--no-check-audio skips the audio check"


@dataclass(frozen=True)
class ReadReport:
    """What a reader did: how many utterances it read, kept and skipped (and why), labels dropped, class and
    ambiguity counts, and every skipped problem as ``"file:line: what"``.

    ``skipped`` maps a reason to the number of utterances skipped for it; ``dropped_labels`` maps a raw label (as
    written) to how often it fell outside the class set; ``class_counts`` counts the kept utterances' majority
    labels; ``notes`` holds other counts (self-evaluations excluded, empty answers, lines skipped...);
    ``warnings`` says what looks wrong about the corpus as a whole (e.g. a total that differs from the release);
    ``selection`` counts what each selection rule removed (the id list, ``consensus_in_set``, the out-of-set
    policy; see :mod:`hf_ambiguity.corpora.selection`) and ``policy`` says in one sentence which out-of-set policy
    was used.
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
    selection: dict[str, int] = field(default_factory=dict)
    policy: str = ""

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

        if self.policy:
            out.extend(["", f"Out-of-set policy: {self.policy}"])
        if self.selection:
            table("Selection (utterances each rule removed, in the order applied)", "rule", self.selection)
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
        self.skip_reasons: dict[str, str] = {}  # utterance id -> why it was skipped

    def problem(self, where: str, what: str, *, fix: str = "") -> None:
        """A bad piece of input: raise in strict mode, record it in lenient mode (the caller then skips it).

        The message names the setting a user changes, as a command-line flag and as a pipeline config key (the
        same reader serves ``hf-ambiguity build`` and ``hf-ambiguity run``).
        """
        if self.strict:
            hint = f"; {fix}" if fix else ""
            raise CorpusFormatError(f"{where}: {what}{hint} ({LENIENT_HINT} to skip and count it)")
        self.problems.append(f"{where}: {what}")

    def skip(self, reason: str, n: int = 1, *, utt: str | None = None) -> None:
        """Count ``n`` utterances skipped for ``reason`` (``utt``: the id, remembered for id-list reports)."""
        self.skipped[reason] += n
        if utt is not None:
            self.skip_reasons[utt] = reason

    def freeze(self, kept_rows: list[dict[str, Any]], options: dict[str, Any], *,
               selection: dict[str, int] | None = None, policy: str = "") -> ReadReport:
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
            selection=dict(selection or {}),
            policy=policy,
        )
