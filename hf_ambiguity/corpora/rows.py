"""From parsed utterances to dataset rows: the per-utterance derivation of votes, distribution, entropy, ambiguity
level and majority from the raw answers, shared by every corpus reader.

A reader parses its corpus into :class:`Pending` records (identity + raw answers), then :func:`finish_rows` turns
them into rows with exactly the :mod:`hf_ambiguity.schema` columns. Ambiguity by terciles needs every kept
utterance at once, so rows are completed only after the whole corpus is parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hf_ambiguity.corpora.report import ReportBuilder
from hf_ambiguity.corpora.selection import OutOfSetPolicy
from hf_ambiguity.distributions import AmbiguityDefinition, majority, votes_from_answers, votes_to_distribution
from hf_ambiguity.labels import ClassSet, UnknownLabelError

__all__ = ["Pending", "finish_rows", "map_or_fail", "valid_weight"]


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


def map_or_fail(class_set: ClassSet, raw: str, report: ReportBuilder, where: str) -> tuple[bool, str | None]:
    """Map a raw label; on an unknown spelling raise (strict) or record it (lenient). Returns (known, class)."""
    try:
        return True, class_set.map_label(raw)
    except UnknownLabelError:
        report.problem(where, f"unknown emotion label {raw!r}",
                       fix=f"correct it to one of the corpus spellings of class set {class_set.name!r}")
        report.notes["unknown labels skipped"] += 1
        return False, None


def valid_weight(labels: list[list[str]], multi_label: str) -> float:
    """The total weight of an utterance's valid votes, in the units of ``votes_from_answers``: the number of
    annotators who named a known label (``fractional``: each annotator weighs 1), or the number of labels named
    (``whole``: one vote per label)."""
    if multi_label == "whole":
        return float(sum(len(a) for a in labels))
    return float(sum(1 for a in labels if a))


def finish_rows(
    pending: list[Pending],
    class_set: ClassSet,
    report: ReportBuilder,
    *,
    multi_label: Literal["fractional", "whole"],
    ambiguity: AmbiguityDefinition,
    out_of_set: OutOfSetPolicy,
) -> list[dict[str, Any]]:
    """Votes, distribution, in-set share, entropy, ambiguity level and majority for every pending utterance.

    ``in_set_share`` is the in-set vote weight over the valid vote weight (:func:`valid_weight`). Utterances whose
    votes all fall outside the class set are skipped and counted (``"no in-set votes"``; with no answer at all:
    ``"no evaluator answers"``), never given a NaN distribution; the ``out_of_set`` policy
    (:class:`~hf_ambiguity.corpora.selection.OutOfSetPolicy`) skips and counts those with too small an in-set
    share. ``entropy`` holds the score the chosen ``ambiguity`` definition
    (:class:`~hf_ambiguity.distributions.AmbiguityDefinition`) ranks, over the utterances kept.
    """
    kept: list[tuple[Pending, np.ndarray, list[str], list[str], float]] = []
    for p in pending:
        votes, labels, dropped = votes_from_answers(p.labels, class_set, multi_label=multi_label)
        # MSP-Podcast's free-text 'Other-<text>' answers are tallied together so the report stays readable
        report.dropped.update("Other-<free text>" if d.lower().startswith("other-") else d for d in dropped)
        utt = p.base.get("id")
        if votes.sum() <= 0:
            report.skip("no in-set votes" if any(p.labels) else "no evaluator answers", utt=utt)
            continue
        share = float(min(1.0, votes.sum() / valid_weight(p.labels, multi_label)))
        if not out_of_set.keeps(share):
            report.skip(out_of_set.skip_reason, utt=utt)
            continue
        if share < 1.0:
            report.notes["kept utterances with some votes outside the class set"] += 1
        kept.append((p, votes, labels, dropped, share))
    if not kept:
        return []
    votes_all = np.stack([k[1] for k in kept])
    dist_all = votes_to_distribution(votes_all)
    entropy = ambiguity.scores([k[2] for k in kept], dist_all, n_classes=class_set.num_classes)
    levels = ambiguity.levels(entropy)
    idx, strict = majority(votes_all)
    rows = []
    for i, (p, votes, labels, dropped, share) in enumerate(kept):
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
            in_set_share=share,
            entropy=float(entropy[i]),
            ambiguity=levels[i],
            majority_label=class_set.names[int(idx[i])],
            has_majority=bool(strict[i]),
        )
        rows.append(row)
    return rows
