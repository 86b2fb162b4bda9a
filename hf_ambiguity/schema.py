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
  ``n_dropped_labels``, ``entropy``, ``ambiguity`` (a ``ClassLabel`` low / medium / high: ``ds["ambiguity"]``
  gives ints, :func:`ambiguity_levels` gives the names), ``majority_label`` (a ``ClassLabel`` whose names *are* the
  class order), ``has_majority``.
- synthetic annotators named ``<name>`` (default ``synthetic``): ``<name>_labels``, ``<name>_raw``,
  ``<name>_votes``, ``<name>_dist``, ``<name>_invalid``; merged: ``combined_votes``, ``combined_dist``.
- DiME-Aug output: ``augmented`` (bool) and ``aug_sources``, ``aug_alpha``.

Every vote and distribution column (``human_votes``, ``human_dist``, ``<name>_votes``, ``<name>_dist``,
``combined_*``) has one type, :func:`distribution_feature` (a list of ``float64``): fractional votes (1/3) and merged
distributions are stored without rounding, and every such column compares and concatenates with every other.

>>> ambiguity_feature().names
['low', 'medium', 'high']
>>> ambiguity_names([0, 2, "medium", None])
['low', 'high', 'medium', None]
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["CLASS_COLUMN", "AMBIGUITY_COLUMN", "AMBIGUITY_LEVELS", "DISTRIBUTION_DTYPE", "class_names",
           "synthetic_columns", "ambiguity_feature", "distribution_feature", "ambiguity_names", "ambiguity_levels"]

#: The ``ClassLabel`` column whose ``names`` give the order of every vote/distribution vector.
CLASS_COLUMN = "majority_label"
#: Ambiguity levels, in order (the names of the ``ambiguity`` ClassLabel: 0 low, 1 medium, 2 high).
AMBIGUITY_LEVELS = ("low", "medium", "high")
#: The per-utterance ambiguity level column.
AMBIGUITY_COLUMN = "ambiguity"
#: Value type of every vote and distribution column.
DISTRIBUTION_DTYPE = "float64"


def ambiguity_feature() -> Any:
    """The ``ambiguity`` column's type: ``ClassLabel(names=["low", "medium", "high"])`` (strings are encoded)."""
    from datasets import ClassLabel

    return ClassLabel(names=list(AMBIGUITY_LEVELS))


def distribution_feature() -> Any:
    """The type of every vote and distribution column: a list of ``float64``."""
    from datasets import List, Value

    return List(Value(DISTRIBUTION_DTYPE))


def ambiguity_names(values: Any, feature: Any = None) -> list[str | None]:
    """Ambiguity values as level names: ints are ``ClassLabel`` codes (decoded with ``feature``'s names, default
    :data:`AMBIGUITY_LEVELS`), strings pass through, ``None`` and the ClassLabel's missing code -1 become ``None``.
    A code outside the names raises ``ValueError`` naming the row."""
    names = list(getattr(feature, "names", None) or AMBIGUITY_LEVELS)
    out: list[str | None] = []
    for i, v in enumerate(values):
        if v is None or isinstance(v, str):
            out.append(v)
        elif isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            if v == -1:
                out.append(None)
            elif 0 <= v < len(names):
                out.append(names[int(v)])
            else:
                raise ValueError(f"ambiguity row {i} has the code {int(v)}, outside the levels {names}")
        else:
            raise ValueError(f"ambiguity row {i} is {v!r}; expected a level name {names} or its ClassLabel code")
    return out


def ambiguity_levels(dataset: Any, column: str = AMBIGUITY_COLUMN) -> list[str | None]:
    """The level names of a dataset's ambiguity column, whether it is a ``ClassLabel`` (ints) or strings; read
    without decoding other columns (audio)."""
    if column not in dataset.column_names:
        raise ValueError(f"dataset has no {column!r} column (columns: {dataset.column_names})")
    values = dataset.select_columns([column]).with_format("arrow")[:][column].to_pylist()
    return ambiguity_names(values, dataset.features[column])


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
