"""Column names every hf-ambiguity dataset shares, and how to read the class order off a dataset.

Built datasets (one row per utterance) carry:

- identity: ``id``, ``corpus``, ``speaker``, ``gender``, ``audio`` (``Audio(sampling_rate=16000)``),
  ``transcript`` ("" when the corpus has none); IEMOCAP adds ``session``, ``dialog``, ``method``, ``start``,
  ``end``; MSP-Podcast adds ``split``.
- consensus: ``consensus_label`` (the corpus code as written), ``consensus_class`` (class name or ""),
  ``valence``, ``activation``, ``dominance``.
- raw annotations: ``annotators`` (ids), ``raw_answers`` (each annotator's categorical answer as written),
  ``other_text`` (free text of 'Other' answers); MSP-Podcast adds ``secondary_answers``.
- human distribution: ``human_labels`` (class names of the kept labels, one entry per label named),
  ``human_votes`` and ``human_dist`` (``n_classes`` floats in class order), ``n_annotators``,
  ``n_dropped_labels``, ``entropy``, ``ambiguity`` (low / medium / high), ``majority_label``
  (a ``ClassLabel`` whose names *are* the class order), ``has_majority``.
- synthetic annotators named ``<name>`` (default ``synthetic``): ``<name>_labels``, ``<name>_raw``,
  ``<name>_votes``, ``<name>_dist``, ``<name>_invalid``; merged: ``combined_votes``, ``combined_dist``.
- DiME-Aug output: ``augmented`` (bool) and ``aug_sources``, ``aug_alpha``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CLASS_COLUMN", "AMBIGUITY_LEVELS", "class_names", "synthetic_columns"]

#: The ``ClassLabel`` column whose ``names`` give the order of every vote/distribution vector.
CLASS_COLUMN = "majority_label"
#: Ambiguity levels, in order.
AMBIGUITY_LEVELS = ("low", "medium", "high")


def class_names(dataset: Any) -> list[str]:
    """The class order of a dataset's vote/distribution columns (from its ``majority_label`` ClassLabel)."""
    features = dataset.features
    if CLASS_COLUMN not in features or not hasattr(features[CLASS_COLUMN], "names"):
        raise ValueError(
            f"dataset has no ClassLabel column {CLASS_COLUMN!r}, so its class order is unknown; "
            "build it with `hf-ambiguity build` or pass class names explicitly"
        )
    return list(features[CLASS_COLUMN].names)


def synthetic_columns(name: str = "synthetic") -> dict[str, str]:
    """Column names of a synthetic annotator set called ``name``."""
    return {k: f"{name}_{k}" for k in ("labels", "raw", "votes", "dist", "invalid")}
