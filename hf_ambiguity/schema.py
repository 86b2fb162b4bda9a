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
  ``n_dropped_labels``, ``in_set_share``, ``entropy``, ``ambiguity`` (a ``ClassLabel`` low / medium / high:
  ``ds["ambiguity"]`` gives ints, :func:`ambiguity_levels` gives the names), ``majority_label`` (a ``ClassLabel``
  whose names *are* the class order), ``has_majority``.
- synthetic annotators named ``<name>`` (default ``synthetic``; :func:`hf_ambiguity.annotate.annotate`), a column set
  that depends on the annotation mode (:data:`MODE_COLUMNS`; the provenance entry ``<name>`` says the mode). N is the
  number of simulated annotators, K the number of classes; every vector is in class order.

  - ``sample`` (free-text answers of N annotators): ``<name>_raw`` (N answer texts, annotator order),
    ``<name>_annotator_labels`` (N class names, null where the answer named no class), ``<name>_labels`` (the valid
    class names only), ``<name>_votes`` (K counts), ``<name>_dist`` (votes / total; all zeros when no answer
    parsed), ``<name>_invalid`` (int: answers that named no class).
  - ``expected`` (the exact expectation of the N annotators): ``<name>_annotator_dists`` (N x K: each annotator's
    answer distribution renormalised over the classes), ``<name>_annotator_invalid`` (N: each annotator's probability
    of an answer that is not exactly a label), ``<name>_dist`` (the mean of the N annotator distributions),
    ``<name>_votes`` (N x ``_dist``: expected counts of N annotators, so merges weigh the proxy like N labels),
    ``<name>_invalid`` (float: the expected number of such answers, the sum of ``_annotator_invalid``).
  - ``score`` (one annotator-neutral prompt at temperature 1): ``<name>_logprobs`` (K class log-probabilities),
    ``<name>_dist`` (their softmax over the classes), ``<name>_votes`` (N x ``_dist``), ``<name>_invalid`` (float:
    N x the probability of an answer that is not exactly a label).
  - after calibration (:mod:`hf_ambiguity.annotate.calibrate`): ``<name>_dist`` and ``<name>_votes`` hold the
    calibrated values and ``<name>_uncalibrated_dist`` the raw distribution.

  Merged with the human votes: ``combined_votes``, ``combined_dist``.
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

__all__ = ["CLASS_COLUMN", "AMBIGUITY_COLUMN", "AMBIGUITY_LEVELS", "DISTRIBUTION_DTYPE", "MODE_COLUMNS", "class_names",
           "synthetic_columns", "mode_columns", "ambiguity_feature", "distribution_feature", "ambiguity_names",
           "ambiguity_levels"]

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


#: Column suffixes of a synthetic annotator set, by annotation mode (see the module docstring).
MODE_COLUMNS: dict[str, tuple[str, ...]] = {
    "sample": ("raw", "annotator_labels", "labels", "votes", "dist", "invalid"),
    "expected": ("annotator_dists", "annotator_invalid", "dist", "votes", "invalid"),
    "score": ("logprobs", "dist", "votes", "invalid"),
}


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
    """Column names of a synthetic annotator set called ``name``, by suffix (every mode's columns).

    >>> synthetic_columns("qwen")["annotator_dists"]
    'qwen_annotator_dists'
    """
    suffixes = dict.fromkeys(s for cols in MODE_COLUMNS.values() for s in cols)
    return {k: f"{name}_{k}" for k in [*suffixes, "uncalibrated_dist"]}


def mode_columns(mode: str, name: str | None = None) -> tuple[str, ...]:
    """The column suffixes a mode writes (or the full names, with ``name``).

    >>> mode_columns("score", "synthetic")
    ('synthetic_logprobs', 'synthetic_dist', 'synthetic_votes', 'synthetic_invalid')
    """
    try:
        cols = MODE_COLUMNS[mode]
    except KeyError:
        raise ValueError(f"mode must be one of {list(MODE_COLUMNS)}, got {mode!r}") from None
    return tuple(f"{name}_{c}" for c in cols) if name else cols
