"""Emotion distributions from votes: normalisation, entropy and validation, vectorised over utterances.

Shapes: ``votes`` and ``dist`` are ``(n_items, n_classes)`` (or ``(n_classes,)`` for one item). A row whose votes
sum to zero has no distribution: it raises (naming the row) instead of producing NaN.

Per-utterance ambiguity, two selectable definitions (the corpus readers' ``ambiguity=`` option; ``reference`` is
the default of the readers and therefore of ``hf-ambiguity build``):

- ``reference`` (the reference method's score): :func:`reference_label_entropy` of the human label list (entropy
  divided by the log of the number of *distinct* labels present, 0 for one label), then :func:`tercile_levels`,
  equal-size terciles over a set of utterances. Levels are relative to that set: the reference bins its *test*
  set (:func:`evaluation_levels` recomputes levels on any subset from the stored ``entropy``), with
  ``ties="reference"`` (``n // 3`` per bin, the remainder to ``high``, ties split by row order).
- ``fixed``: :func:`normalized_entropy` of the distribution (divided by the log of the class count), then
  :func:`fixed_levels` with configurable cut points. Levels are absolute: the same in every subset.

>>> votes_to_distribution(np.array([[2.0, 1.0, 0.0, 1.0]]))
array([[0.5 , 0.25, 0.  , 0.25]])
>>> float(normalized_entropy(np.array([0.5, 0.5, 0.0, 0.0])))
0.5
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping, Sequence

from hf_ambiguity.errors import DistributionError

if TYPE_CHECKING:  # pragma: no cover
    from hf_ambiguity.labels import ClassSet

__all__ = [
    "votes_to_distribution", "normalized_entropy", "validate_distributions", "raise_first_bad_row", "DIST_ATOL",
    "distribution_checks", "distribution_problems", "validate_votes", "as_table",
    "votes_from_answers", "reference_label_entropy", "tercile_levels", "fixed_levels", "majority",
    "MULTI_LABEL_MODES", "TIE_MODES", "AMBIGUITY_DEFINITIONS", "DEFAULT_AMBIGUITY_CUTS", "AmbiguityDefinition",
    "check_multi_label", "label_indices", "evaluation_levels",
]

MULTI_LABEL_MODES = ("fractional", "whole")
#: How :func:`tercile_levels` treats ties and remainders: ``together`` (ties share a level), ``rank`` (sizes
#: ``ceil(n/3)``, ``ceil(2n/3) - ceil(n/3)``, rest) and ``reference`` (the reference's ``n // 3``, ``n // 3``, rest).
TIE_MODES = ("together", "rank", "reference")
#: The ambiguity definitions (see :class:`AmbiguityDefinition`); ``reference`` is the default of every command.
AMBIGUITY_DEFINITIONS = ("reference", "fixed")
#: Cut points of the ``fixed`` definition on the class-count-normalised entropy.
DEFAULT_AMBIGUITY_CUTS = (0.33, 0.66)

#: Tolerance for "sums to one" used everywhere a probability vector is checked.
DIST_ATOL = 1e-4


def votes_to_distribution(votes: np.ndarray, *, name: str = "votes") -> np.ndarray:
    """Counts (or fractional votes) → distribution = votes / total, row-wise.

    Raises :class:`~hf_ambiguity.errors.DistributionError` naming the first row with negative, non-finite or
    all-zero votes (``name`` names the table in the message).
    """
    v = np.asarray(votes, dtype=np.float64)
    rows = v.reshape(1, -1) if v.ndim == 1 else v
    total = rows.sum(axis=1, keepdims=True)
    raise_first_bad_row(rows, (
        (~np.isfinite(rows).all(axis=1), "contains NaN or infinity"),
        ((rows < 0).any(axis=1), "has a negative count"),
        (total[:, 0] <= 0, "has no votes inside the class set, so it has no distribution; drop the row first"),
    ), name=name)
    out = rows / total
    return out.reshape(v.shape)


def normalized_entropy(dist: np.ndarray, *, n_classes: int | None = None) -> np.ndarray:
    """Shannon entropy divided by ``log(n_classes)`` (default: the vector length), in [0, 1], row-wise."""
    p = np.asarray(dist, dtype=np.float64)
    k = p.shape[-1] if n_classes is None else n_classes
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=-1)
    return h / np.log(k) if k > 1 else np.zeros_like(h)


def validate_distributions(dist: np.ndarray, *, n_classes: int | None = None, atol: float = DIST_ATOL,
                           name: str = "distribution") -> np.ndarray:
    """Return ``dist`` as a float64 2-D array, or raise ``ValueError`` naming the first invalid row and why.

    Valid: finite, non-negative, summing to 1 within ``atol``, and ``n_classes`` long when given.
    """
    p = np.asarray(dist, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_items, n_classes), got shape {p.shape}")
    if p.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one row is needed")
    if n_classes is not None and p.shape[1] != n_classes:
        raise ValueError(f"{name} rows have {p.shape[1]} entries but the class set has {n_classes}")
    raise_first_bad_row(p, distribution_checks(p, atol), name=name)
    return p


def raise_first_bad_row(table: np.ndarray, checks: Iterable[tuple[np.ndarray, str]], *, name: str) -> None:
    """Raise :class:`~hf_ambiguity.errors.DistributionError` for the first failed row check: ``checks`` are
    ``(bad_rows_mask, why)`` in order.

    >>> raise_first_bad_row(np.array([[1.0], [-1.0]]), [(np.array([False, True]), "is negative")], name="votes")
    Traceback (most recent call last):
    ...
    hf_ambiguity.errors.DistributionError: votes row 1 is negative: [-1.0]
    """
    for bad, why in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DistributionError(i, why, name=name, values=table[i].tolist())


def distribution_checks(p: np.ndarray, atol: float = DIST_ATOL) -> tuple[tuple[np.ndarray, str], ...]:
    """The row checks of a probability table ``p`` ``(n_items, n_classes)``: ``(bad_rows_mask, why)`` in order
    (finite, non-negative, sums to 1 within ``atol``). The one definition of "a valid distribution row"."""
    with np.errstate(invalid="ignore"):
        return (
            (~np.isfinite(p).all(axis=1), "contains NaN or infinity"),
            ((p < 0).any(axis=1), "has a negative entry"),
            (np.abs(p.sum(axis=1) - 1.0) > atol, f"does not sum to 1 (tolerance {atol})"),
        )


def distribution_problems(values: Sequence[Any], n_classes: int, *, atol: float = DIST_ATOL) -> list[str | None]:
    """Per row of a column of (possibly missing or ragged) vectors: why it is not a distribution over
    ``n_classes`` classes, or ``None`` when it is one.

    >>> distribution_problems([[0.5, 0.5], None, [1.0], [0.7, 0.7]], 2)
    [None, 'is missing', 'has 1 entries but the class set has 2: [1.0]', 'does not sum to 1 (tolerance 0.0001): [0.7, 0.7]']
    """
    out: list[str | None] = [None] * len(values)
    rows, where = [], []
    for r, v in enumerate(values):
        if v is None:
            out[r] = "is missing"
            continue
        try:
            p = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            out[r] = f"is not a list of numbers: {v!r}"
            continue
        if p.ndim != 1 or p.shape[0] != n_classes:
            out[r] = f"has {p.size} entries but the class set has {n_classes}: {v!r}"
            continue
        rows.append(p)
        where.append(r)
    if rows:
        table = np.stack(rows)
        for bad, why in reversed(distribution_checks(table, atol)):  # the first failing check wins
            for j in np.flatnonzero(bad):
                out[where[j]] = f"{why}: {table[j].tolist()}"
    return out


def validate_votes(votes: Any, *, name: str = "votes", n_classes: int | None = None,
                   integer: bool = False) -> np.ndarray:
    """Vote counts as a float64 ``(n_items, n_classes)`` array, or an error naming the first bad row.

    Valid: finite and non-negative (whole numbers too when ``integer``); a ragged table names its first row whose
    length differs. Rows may sum to zero (the caller decides what an item without votes means).

    >>> validate_votes([[1, 2], [0, 3]]).tolist()
    [[1.0, 2.0], [0.0, 3.0]]
    """
    arr = as_table(votes, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_items, n_classes) of vote counts, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one item is needed")
    if n_classes is not None and arr.shape[1] != n_classes:
        raise ValueError(f"{name} rows have {arr.shape[1]} entries but the other table has {n_classes}")
    checks = [(~np.isfinite(arr).all(axis=1), "contains NaN or infinity"),
              ((arr < 0).any(axis=1), "has a negative count")]
    if integer:
        checks.append(((arr != np.round(arr)).any(axis=1), "has a non-integer count (agreement needs whole votes)"))
    raise_first_bad_row(arr, checks, name=name)
    return arr


def as_table(x: Any, name: str) -> np.ndarray:
    """``x`` as a float64 array; ragged rows raise naming the first row whose length differs from row 0's."""
    if isinstance(x, np.ndarray) and x.dtype != object:  # object arrays may be ragged: checked row by row below
        return x.astype(np.float64, copy=False)
    try:
        return np.asarray(x, dtype=np.float64)
    except (ValueError, TypeError):
        rows = list(x)
        if not rows:
            raise ValueError(f"{name} is empty: at least one row is needed") from None
        first = len(rows[0])
        for i, row in enumerate(rows):
            if len(row) != first:
                raise ValueError(
                    f"{name} row {i} has {len(row)} entries but row 0 has {first}: every vector needs one entry "
                    "per class, in the same class order") from None
        return np.stack([np.asarray(row, dtype=np.float64) for row in rows])  # e.g. an object array of rows


def check_multi_label(multi_label: str) -> None:
    """Refuse an unknown multi-label counting mode up front (a typo fails before a long parse)."""
    if multi_label not in MULTI_LABEL_MODES:
        raise ValueError(f"multi_label must be one of {list(MULTI_LABEL_MODES)}, got {multi_label!r}")


# --------------------------------------------------------------------------------------------------------------
# Votes from raw per-annotator answers
# --------------------------------------------------------------------------------------------------------------


def votes_from_answers(
    answers: Sequence[Sequence[str]],
    class_set: "ClassSet | str",
    *,
    multi_label: Literal["fractional", "whole"] = "fractional",
) -> tuple[np.ndarray, list[str], list[str]]:
    """Turn each annotator's raw answer (the labels they named) into one vote vector over ``class_set``.

    ``answers[i]`` is the list of raw label spellings annotator ``i`` named (IEMOCAP evaluators may name several:
    ``["Frustration", "Anger"]``; an empty list is an evaluator who gave no answer and contributes nothing).

    - ``multi_label="fractional"`` (default): each annotator carries a weight of 1, split equally over *all* the
      labels they named. The share of a label outside the class set is dropped, not re-assigned to the annotator's
      in-set labels: ``["Frustration", "Anger"]`` gives 0.5 to ``angry`` and 0.5 is lost. So an annotator who
      hesitated between an in-set and an out-of-set emotion weighs less than one who named only the in-set one.
    - ``multi_label="whole"``: every label named is one full vote (what counting the reference's label list does).

    Labels outside the class set (``Frustration`` in a 4-class set, ``Other``, ``xxx``) are never an error: they
    are returned in ``dropped`` (as written) so callers count them. A spelling the corpus does not use raises
    :class:`hf_ambiguity.labels.UnknownLabelError`.

    Returns ``(votes, kept_labels, dropped)``: ``votes`` has shape ``(n_classes,)`` in class order and may sum to
    zero (the caller decides what to do with an utterance without in-set votes); ``kept_labels`` are the class
    names of the in-set labels, one entry per label named, in answer order; ``dropped`` the raw out-of-set labels.

    >>> v, kept, dropped = votes_from_answers([["Frustration", "Anger"], ["Anger"], ["Neutral"]], "iemocap-4")
    >>> v.tolist(), kept, dropped
    ([1.0, 0.0, 1.5, 0.0], ['angry', 'angry', 'neutral'], ['Frustration'])
    >>> votes_from_answers([["Frustration", "Anger"], ["Anger"]], "iemocap-4", multi_label="whole")[0].tolist()
    [0.0, 0.0, 2.0, 0.0]
    """
    from hf_ambiguity.labels import get_class_set

    cs = get_class_set(class_set) if isinstance(class_set, str) else class_set
    check_multi_label(multi_label)
    votes = np.zeros(cs.num_classes, dtype=np.float64)
    kept: list[str] = []
    dropped: list[str] = []
    column = cs.column
    for labels in answers:
        if not labels:
            continue
        weight = 1.0 / len(labels) if multi_label == "fractional" else 1.0
        for raw in labels:
            j = column(raw)
            if j < 0:
                dropped.append(raw)
                continue
            votes[j] += weight
            kept.append(cs.names[j])
    return votes, kept, dropped


# --------------------------------------------------------------------------------------------------------------
# Ambiguity: the reference definition and the fixed-cut definition
# --------------------------------------------------------------------------------------------------------------


def reference_label_entropy(labels: Sequence[str]) -> float:
    """The reference method's ambiguity score of one utterance: entropy of its human label list, normalised.

    Shannon entropy of the empirical distribution of ``labels`` (one entry per label named; natural log) divided by
    ``log(number of distinct labels present)``; 0 when only one distinct label is present. The result is in
    [0, 1] and is 1 whenever the labels present are equally frequent, however many there are (so it measures how
    evenly the votes split among the labels present, not how many classes were used).

    >>> reference_label_entropy(["angry", "angry", "sad"])  # H([2/3, 1/3]) / log 2
    0.918...
    >>> reference_label_entropy(["sad", "sad"]), reference_label_entropy(["sad", "happy", "angry"])
    (0.0, 1.0)
    """
    if len(labels) == 0:
        raise ValueError("reference_label_entropy needs at least one label; drop utterances without votes first")
    counts = np.fromiter(Counter(labels).values(), dtype=np.float64)
    if len(counts) < 2:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum() / np.log(len(counts)))


def tercile_levels(values: Sequence[float] | np.ndarray, *,
                   ties: Literal["together", "rank", "reference"] = "together") -> list[str]:
    """Equal-size terciles of ``values`` over the evaluated set → ``"low" / "medium" / "high"`` per item.

    - ``ties="together"`` (default): items are sorted by value; the cut values are the values at sorted positions
      ``ceil(n/3)`` and ``ceil(2n/3)``; an item is ``low`` when its value is ``<=`` the first cut value, ``medium``
      when ``<=`` the second, ``high`` otherwise. Equal values always share a level, so a level can hold more (and
      the next one fewer) than a third when many items tie at a cut (e.g. many unanimous utterances with entropy
      0 all go to ``low``); a level can even be empty. The level of an item never depends on row order.
    - ``ties="rank"``: exactly equal sizes by a stable sort (ties at a cut split by input order): ``ceil(n/3)``
      low, ``ceil(2n/3) - ceil(n/3)`` medium, the rest high.
    - ``ties="reference"``: the reference's binning (``get_ambiguity_groups_by_rank``): a stable ascending sort
      (ties keep input order), ``n // 3`` low, the next ``n // 3`` medium and the rest (``n - 2·(n // 3)``, so the
      remainder) high. For 875 items: 291 / 291 / 293 (``rank`` gives 292 / 292 / 291).

    >>> tercile_levels([0.9, 0.1, 0.5, 0.2, 0.7, 0.0])
    ['high', 'low', 'medium', 'medium', 'high', 'low']
    >>> tercile_levels([0.0, 0.0, 0.0, 0.0, 0.5, 1.0])  # both cut values are 0: 'medium' is empty
    ['low', 'low', 'low', 'low', 'high', 'high']
    >>> tercile_levels([0.0, 0.0, 0.0, 0.0, 0.5, 1.0], ties="rank")
    ['low', 'low', 'medium', 'medium', 'high', 'high']
    >>> tercile_levels([0.3, 0.0, 0.0, 0.0, 0.0, 0.5, 1.0], ties="reference")  # 7 items: 2 / 2 / 3
    ['high', 'low', 'low', 'medium', 'medium', 'high', 'high']
    """
    if ties not in TIE_MODES:
        raise ValueError(f"ties must be one of {list(TIE_MODES)}, got {ties!r}")
    v = _scores_1d(values, "values")
    n = len(v)
    if n == 0:
        return []
    order = np.argsort(v, kind="stable")
    if ties == "together":
        k1, k2 = -(-n // 3), -(-2 * n // 3)  # ceil(n/3), ceil(2n/3)
        c1, c2 = v[order[k1 - 1]], v[order[k2 - 1]]
        level = np.where(v <= c1, 0, np.where(v <= c2, 1, 2))
    else:
        k1, k2 = (-(-n // 3), -(-2 * n // 3)) if ties == "rank" else (n // 3, 2 * (n // 3))
        level = np.empty(n, dtype=np.int64)
        level[order[:k1]], level[order[k1:k2]], level[order[k2:]] = 0, 1, 2
    names = ("low", "medium", "high")
    return [names[i] for i in level]


def _scores_1d(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    """``values`` as a finite 1-D float array (one ambiguity score per item), or a ValueError naming the item."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one score per item), got shape {v.shape}")
    if not np.isfinite(v).all():
        i = int(np.flatnonzero(~np.isfinite(v))[0])
        raise ValueError(f"{name}[{i}] is {v[i]}: ambiguity scores must be finite")
    return v


def fixed_levels(entropy: Sequence[float] | np.ndarray,
                 cuts: tuple[float, float] = DEFAULT_AMBIGUITY_CUTS) -> list[str]:
    """Levels from fixed cut points on a normalised entropy in [0, 1]: ``low`` if ``e <= cuts[0]``, ``medium`` if
    ``e <= cuts[1]``, else ``high``. Use with :func:`normalized_entropy` of the human distribution (entropy divided
    by ``log(n_classes)``), which, unlike terciles, gives an utterance the same level in every subset.

    >>> fixed_levels([0.0, 0.33, 0.5, 0.9])
    ['low', 'low', 'medium', 'high']
    """
    _check_cuts(cuts)
    e = _scores_1d(entropy, "entropy")
    names = ("low", "medium", "high")
    return [names[i] for i in np.where(e <= cuts[0], 0, np.where(e <= cuts[1], 1, 2))]


def _check_cuts(cuts: Sequence[float]) -> None:
    if len(cuts) != 2 or not (0.0 <= cuts[0] < cuts[1] <= 1.0):
        raise ValueError(f"ambiguity_cuts must be two numbers 0 <= low < high <= 1, got {tuple(cuts)}")


def evaluation_levels(entropy: Sequence[float | None] | np.ndarray, definition: "AmbiguityDefinition", *,
                      name: str = "entropy") -> list[str]:
    """Ambiguity levels recomputed on an evaluated subset (e.g. the test split) from its stored ``entropy`` scores.

    The reference bins its *test* set into terciles, so a level there is relative to the test set, not to the whole
    corpus: pass the subset's ``entropy`` column (the score of ``definition``, as written by the builders) in row
    order. With ``kind="fixed"`` the levels do not depend on the subset (fixed cuts). A missing score (``None``,
    e.g. a DiME-Aug row, which has no annotators) raises naming the row: such rows are not evaluation items.

    >>> evaluation_levels([0.0, 0.9, 0.0, 0.5, 1.0], AmbiguityDefinition(ties="reference"))  # 1 / 1 / 3
    ['low', 'high', 'medium', 'high', 'high']
    >>> evaluation_levels([0.0, None], AmbiguityDefinition())
    Traceback (most recent call last):
    ...
    ValueError: entropy row 1 is missing: levels need every evaluated row's ambiguity score
    """
    values = list(entropy) if not isinstance(entropy, np.ndarray) else entropy.tolist()
    for i, x in enumerate(values):
        if x is None:
            raise ValueError(f"{name} row {i} is missing: levels need every evaluated row's ambiguity score")
    return definition.levels(np.asarray(values, dtype=np.float64))


@dataclass(frozen=True)
class AmbiguityDefinition:
    """How an utterance's ambiguity score and level are computed: the one definition every reader, builder, card
    and report uses.

    - ``kind="reference"`` (the reference method's score): the score is :func:`reference_label_entropy` of the
      human label list; levels are :func:`tercile_levels` over the set passed to :meth:`levels` (``ties`` says how
      ties at a cut and the remainder are handled; ``ties="reference"`` is the reference's own rule), so they are
      relative to that set (the reference's: its test set, see :func:`evaluation_levels`).
    - ``kind="fixed"``: the score is :func:`normalized_entropy` of the distribution (over all classes); levels are
      :func:`fixed_levels` with ``cuts``, so an utterance keeps its level in every subset.

    >>> d = AmbiguityDefinition("fixed", cuts=(0.2, 0.5))
    >>> d.levels(d.scores([["a"], ["a", "b"]], np.array([[1.0, 0.0], [0.5, 0.5]]), n_classes=2))
    ['low', 'high']
    >>> AmbiguityDefinition("fuzzy")
    Traceback (most recent call last):
    ...
    ValueError: ambiguity must be one of ['reference', 'fixed'], got 'fuzzy'
    """

    kind: str = "reference"
    cuts: tuple[float, float] = DEFAULT_AMBIGUITY_CUTS
    ties: str = "together"

    def __post_init__(self) -> None:
        if self.kind not in AMBIGUITY_DEFINITIONS:
            raise ValueError(f"ambiguity must be one of {list(AMBIGUITY_DEFINITIONS)}, got {self.kind!r}")
        if self.ties not in TIE_MODES:
            raise ValueError(f"ties must be one of {list(TIE_MODES)}, got {self.ties!r}")
        _check_cuts(tuple(self.cuts))
        object.__setattr__(self, "cuts", tuple(float(c) for c in self.cuts))

    @classmethod
    def from_options(cls, options: "Mapping[str, Any]") -> "AmbiguityDefinition":
        """From build options (``ambiguity``, ``ambiguity_cuts``, ``ambiguity_ties``), defaults for what is absent."""
        return cls(options.get("ambiguity", "reference"), tuple(options.get("ambiguity_cuts", DEFAULT_AMBIGUITY_CUTS)),
                   options.get("ambiguity_ties", "together"))

    def scores(self, labels: Sequence[Sequence[str]], dist: np.ndarray, *, n_classes: int) -> np.ndarray:
        """One score per item: from the label lists (``reference``) or the ``(n_items, n_classes)`` distributions
        (``fixed``)."""
        if self.kind == "reference":
            return np.array([reference_label_entropy(x) for x in labels], dtype=np.float64)
        return normalized_entropy(dist, n_classes=n_classes)

    def levels(self, scores: Sequence[float] | np.ndarray) -> list[str]:
        """``low`` / ``medium`` / ``high`` per item."""
        if self.kind == "reference":
            return tercile_levels(scores, ties=self.ties)
        return fixed_levels(scores, self.cuts)

    def describe(self, scope: str = "all utterances of this build") -> str:
        """One paragraph saying how ``entropy`` and ``ambiguity`` were computed (for cards and reports); ``scope``
        names the set the terciles were taken over (e.g. ``"the test split"`` for :func:`evaluation_levels`)."""
        if self.kind == "fixed":
            lo, hi = self.cuts
            return ("Ambiguity definition `fixed`: `entropy` is the Shannon entropy of `human_dist` divided by the "
                    f"log of the number of classes; `ambiguity` is low when entropy <= {lo}, medium when <= {hi}, "
                    "high otherwise. An utterance keeps its level in every subset.")
        ties = {"together": "ties share a level, so levels can differ in size",
                "rank": "equal thirds by rank (ceil(n/3) low and medium), ties split by row order",
                "reference": "the reference's rank bins: n // 3 low, n // 3 medium, the remainder high, ties split "
                             "by row order"}[self.ties]
        return ("Ambiguity definition `reference` (the reference method's score): `entropy` is the Shannon entropy of "
                "the utterance's human label list divided by the log of the number of *distinct* labels present (0 "
                "when only one label is present); `ambiguity` is the equal-size tercile of that score over "
                f"{scope} ({ties}).")


def majority(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Majority class index and whether it is a *strict* majority, row-wise.

    ``index`` is the arg-max of the votes; on a tie the class that comes first in class order wins (so the result
    is deterministic), and ``has_majority`` is False. ``has_majority`` is True only when the top class holds
    strictly more than half of the row's (possibly fractional) votes, which also rules out every tie.
    Shapes: ``votes`` ``(n_items, n_classes)`` → two ``(n_items,)`` arrays (or scalars for a 1-D ``votes``).

    >>> idx, strict = majority(np.array([[2.0, 1.0, 0.0], [1.0, 1.0, 0.0], [2.0, 1.0, 1.0]]))
    >>> idx.tolist(), strict.tolist()
    ([0, 0, 0], [True, False, False])
    """
    v = np.asarray(votes, dtype=np.float64)
    rows = v.reshape(1, -1) if v.ndim == 1 else v
    idx = rows.argmax(axis=1)
    top = rows[np.arange(len(rows)), idx]
    strict = top > rows.sum(axis=1) / 2.0
    if v.ndim == 1:
        return idx[0], strict[0]
    return idx, strict


def label_indices(labels: Sequence[Sequence[str]], class_names: Sequence[str]) -> list[np.ndarray]:
    """Per item, the class index of every label in its label list (``human_labels``: one entry per label named).

    >>> [x.tolist() for x in label_indices([["sad", "angry"], ["sad"]], ["angry", "sad"])]
    [[1, 0], [1]]
    """
    index = {c: i for i, c in enumerate(class_names)}
    return [np.asarray([index[c] for c in item], dtype=np.int64) for item in labels]
