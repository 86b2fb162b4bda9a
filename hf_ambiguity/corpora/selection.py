"""Which utterances a build keeps: the out-of-set policy (never turn disagreement or out-of-set perception into a
confident in-set label) and an explicit list of utterance ids (to reproduce an exact subset).

**Out-of-set policy** (``out_of_set``, with ``min_in_set_share``). A class set leaves emotions out (``Frustration``
in ``iemocap-4``, ``Other`` everywhere). The votes for left-out emotions are dropped from ``human_votes``, so a
turn rated Frustration / Neutral / Frustration would become ``human_dist`` neutral = 1.0 with entropy 0 and a
"strict majority": two listeners' perception silently turned into certainty. Every row stores
``in_set_share``, the fraction of its valid votes (answers with a known label, weighted as ``multi_label`` weighs
them) that fall inside the class set, and the policy decides which turns are kept:

- ``share`` (the default): keep a turn only when ``in_set_share >= min_in_set_share`` (default 0.5: at least half
  of what the listeners perceived is in the class set); the others are skipped and counted
  (``in-set share below 0.5``).
- ``keep``: keep every turn with at least one in-set vote, however few (the reference method's behaviour; its
  selection is the header consensus, ``consensus_in_set``).

Either way a turn with no in-set vote at all is skipped and counted (``no in-set votes``), never given a NaN
distribution. The selections apply in this order, and the report counts what each removed: the id list, the
consensus selection (``consensus_in_set``), then the out-of-set policy.

**Id list** (``ids_file``): a text file with one utterance id per line (IEMOCAP ``Ses01F_impro01_F000``,
MSP-Podcast ``MSP-PODCAST_0001_0001`` with or without ``.wav``); blank lines and lines starting with ``#`` are
ignored. Utterances not listed are skipped and counted; a listed id that is not in the corpus read is an error that
names it; a listed id that a later selection removed is reported (how many, which, why).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from hf_ambiguity.corpora.text import read_text_or_raise
from hf_ambiguity.errors import CorpusFormatError

if TYPE_CHECKING:
    from hf_ambiguity.corpora.report import ReportBuilder

__all__ = ["OUT_OF_SET_POLICIES", "DEFAULT_MIN_IN_SET_SHARE", "OutOfSetPolicy", "IdSelection", "NOT_LISTED",
           "selection_counts", "finish_id_selection"]

#: ``share`` (default: keep a turn when enough of its votes are in the class set) or ``keep`` (every turn).
OUT_OF_SET_POLICIES = ("share", "keep")
DEFAULT_MIN_IN_SET_SHARE = 0.5
#: Skip reason of utterances an id list leaves out.
NOT_LISTED = "not in the ids file"
#: Tolerance on the share comparison (fractional votes are sums of 1/k).
_EPS = 1e-9


@dataclass(frozen=True)
class OutOfSetPolicy:
    """How turns with votes outside the class set are treated (see the module docstring).

    >>> p = OutOfSetPolicy("share", 0.5)
    >>> p.keeps(2 / 3), p.keeps(1 / 3), OutOfSetPolicy("keep").keeps(0.1)
    (True, False, True)
    >>> OutOfSetPolicy("drop")
    Traceback (most recent call last):
    ...
    ValueError: out_of_set must be one of ['share', 'keep'], got 'drop'
    """

    name: str = "share"
    min_in_set_share: float = DEFAULT_MIN_IN_SET_SHARE

    def __post_init__(self) -> None:
        if self.name not in OUT_OF_SET_POLICIES:
            raise ValueError(f"out_of_set must be one of {list(OUT_OF_SET_POLICIES)}, got {self.name!r}")
        share = self.min_in_set_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 < float(share) <= 1.0:
            raise ValueError(f"min_in_set_share must be a number in (0, 1], got {share!r}")

    def keeps(self, in_set_share: float) -> bool:
        """Whether a turn whose in-set share is ``in_set_share`` (> 0) is kept."""
        return self.name == "keep" or in_set_share >= float(self.min_in_set_share) - _EPS

    @property
    def skip_reason(self) -> str:
        return f"in-set share below {float(self.min_in_set_share):g}"

    def describe(self) -> str:
        """One sentence for the report and the dataset card."""
        if self.name == "keep":
            return ("out_of_set=keep: every utterance with at least one vote in the class set is kept, however "
                    "many of its votes were for emotions outside the set (those votes are dropped; "
                    "`in_set_share` says how much of each utterance's perception is represented).")
        share = float(self.min_in_set_share)
        return (f"out_of_set=share: an utterance is kept only when at least {share:.0%} of its valid votes are for "
                f"emotions in the class set (`in_set_share` >= {share:g}); the others are skipped and counted, so "
                "out-of-set perception is never turned into a confident in-set label. Votes outside the set are "
                "dropped from `human_votes`.")


class IdSelection:
    """The utterance ids of an ``ids_file`` and what became of each (see the module docstring)."""

    def __init__(self, path: str | Path, *, normalise: Callable[[str], str] = str) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise CorpusFormatError(f"ids file {str(self.path)!r} does not exist; pass a text file with one "
                                    "utterance id per line (--ids-file / corpus.ids_file)")
        text, _ = read_text_or_raise(self.path, str(self.path))
        self.ids: dict[str, int] = {}  # id -> line number
        for lineno, line in enumerate(text.splitlines(), start=1):
            item = line.strip()
            if item and not item.startswith("#"):
                self.ids.setdefault(normalise(item), lineno)
        if not self.ids:
            raise CorpusFormatError(f"{self.path}: no utterance id in the file (one id per line; # starts a "
                                    "comment); fix it or drop --ids-file / corpus.ids_file")
        self.normalise = normalise
        self.seen: set[str] = set()

    def __contains__(self, utt_id: str) -> bool:
        return utt_id in self.ids

    def wants(self, utt_id: str) -> bool:
        """Record that ``utt_id`` was read; whether it is listed."""
        self.seen.add(utt_id)
        return utt_id in self.ids

    def check_all_read(self, what: str) -> None:
        """Raise naming the listed ids that were never read (``what`` says what was read, for the message)."""
        missing = [i for i in self.ids if i not in self.seen]
        if missing:
            shown = ", ".join(f"{i} (line {self.ids[i]})" for i in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise CorpusFormatError(
                f"{self.path}: {len(missing)} of the {len(self.ids)} listed utterance id(s) are not in {what}: "
                f"{shown}{more}; correct the ids file (--ids-file / corpus.ids_file) or point data_dir at the "
                "corpus they come from")

    def not_kept(self, kept_ids: Iterable[str]) -> list[str]:
        """Listed ids that were read but not kept (a later selection or a problem removed them)."""
        kept = set(kept_ids)
        return [i for i in self.ids if i in self.seen and i not in kept]


def selection_counts(skipped: dict[str, int], *, ids: IdSelection | None, consensus_in_set: bool,
                     policy: OutOfSetPolicy) -> dict[str, int]:
    """What each active selection rule removed, in the order the rules apply (for :class:`ReadReport`)."""
    out: dict[str, int] = {}
    if ids is not None:
        out["ids_file: not listed"] = skipped.get(NOT_LISTED, 0)
    if consensus_in_set:
        out["consensus_in_set: consensus outside the class set"] = skipped.get("consensus outside class set", 0)
    if policy.name == "share":
        out[f"out_of_set=share: {policy.skip_reason}"] = skipped.get(policy.skip_reason, 0)
    out["no in-set vote at all (every policy)"] = skipped.get("no in-set votes", 0)
    return out


def finish_id_selection(ids: IdSelection, rows: list[dict], report: "ReportBuilder", what: str) -> None:
    """After reading: raise for listed ids never read; count and report listed ids that were not kept."""
    ids.check_all_read(what)
    report.notes["ids listed in the ids file"] = len(ids.ids)
    report.notes["listed ids kept"] = sum(1 for r in rows if r["id"] in ids)
    lost = ids.not_kept(r["id"] for r in rows)
    if lost:
        why: dict[str, int] = {}
        for i in lost:
            reason = report.skip_reasons.get(i, "skipped")
            why[reason] = why.get(reason, 0) + 1
        reasons = ", ".join(f"{k}: {v}" for k, v in why.items())
        shown = ", ".join(lost[:10]) + (f" and {len(lost) - 10} more" if len(lost) > 10 else "")
        report.warnings.append(f"{len(lost)} of the {len(ids.ids)} ids listed in {ids.path} were read but not "
                               f"kept ({reasons}): {shown}")
