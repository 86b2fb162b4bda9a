"""Corpus statistics of a built dataset: the counts a report and a card print (utterances, speakers, annotators,
labels dropped, class × ambiguity table)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from hf_ambiguity.schema import AMBIGUITY_LEVELS, ambiguity_levels, class_names

__all__ = ["corpus_statistics"]


def corpus_statistics(ds: Any) -> dict[str, Any]:
    """Counts the report prints: utterances, speakers, annotators, dropped labels, class × ambiguity table."""
    classes = class_names(ds)
    majority = [classes[i] for i in ds["majority_label"]]
    ambiguity = ambiguity_levels(ds)
    n_ann = np.asarray(ds["n_annotators"], dtype=float)
    table = {c: {lv: 0 for lv in AMBIGUITY_LEVELS} for c in classes}
    for c, lv in zip(majority, ambiguity):
        table[c][lv] += 1
    return {
        "n_utterances": len(ds),
        "n_speakers": len(set(ds["speaker"])) if "speaker" in ds.column_names else None,
        "classes": classes,
        "annotators": {"mean": float(n_ann.mean()) if len(n_ann) else None,
                       "min": int(n_ann.min()) if len(n_ann) else None,
                       "max": int(n_ann.max()) if len(n_ann) else None},
        "dropped_labels": int(np.sum(ds["n_dropped_labels"])) if "n_dropped_labels" in ds.column_names else None,
        "class_counts": dict(Counter(majority)),
        "ambiguity_counts": {lv: ambiguity.count(lv) for lv in AMBIGUITY_LEVELS},
        "class_by_ambiguity": table,
    }
