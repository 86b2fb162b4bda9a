"""Inter-annotator agreement from per-item vote counts: Krippendorff's α, Fleiss' κ, synthetic vs human.

Input everywhere is a vote-count table ``(n_items, n_classes)`` of non-negative integers (row ``i`` = how many
annotators chose each class for item ``i``); the number of annotators may differ between items, as in
MSP-Podcast (5–21 workers) or after dropping labels outside the class set.

- ``krippendorff_alpha``: nominal α via the ``krippendorff`` package's ``value_counts`` path. Varying numbers of
  annotators are native to α; items with fewer than two votes are not pairable and do not contribute.
- ``fleiss_kappa``: statsmodels' Fleiss' κ needs the same number of ratings per item. Scheme ``"subsample"``
  (default): every item is reduced to ``n_raters`` votes (default: the smallest count among items with at
  least two votes) by drawing votes without replacement, κ is computed, and this is repeated ``n_resamples``
  times with a seeded generator; the result is the mean and standard deviation over resamples. Items with fewer
  than ``n_raters`` votes are excluded and counted. Scheme ``"modal"``: only the items whose vote count equals the
  most common count are used, unchanged (deterministic; ``kappa_sd`` = 0). Scheme ``"reference"``: the
  estimator of the reference's evaluation library, which takes every item as it is: item agreement
  ``P_i = Σ_j r_ij(r_ij − 1) / (n_i(n_i − 1))`` with the item's own count ``n_i`` (``P_i = 1`` for an item with
  one vote), ``P̄`` their mean, chance agreement ``P_e = Σ_j p_j²`` from the pooled class shares (items with more
  votes weigh more), ``κ = (P̄ − P_e)/(1 − P_e)`` clipped to [−1, 1], with its edge cases (mean count ≤ 1 or one
  class: 1; ``P_e`` = 1: 1 if ``P̄`` > 0.99, else 0). It is not Fleiss' estimator when counts differ (the
  single-vote items count as perfect agreement); items with no vote are left out (``n_items_excluded``).
- ``synthetic_human_agreement``: α of humans, of synthetic annotators and of both pooled (does adding the
  synthetic votes keep agreement?), agreement of the synthetic plurality with the human plurality, and for each
  synthetic annotator (given its labels) the rate of agreement and Cohen's κ with the human plurality.

>>> votes = np.array([[3, 0, 0], [2, 1, 0], [0, 2, 1], [0, 0, 3], [1, 1, 1]])
>>> round(krippendorff_alpha(votes).alpha, 4)
0.3378
>>> round(fleiss_kappa(votes).kappa, 4)
0.2905
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any, Literal

import krippendorff
import numpy as np
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats import inter_rater

from hf_ambiguity.distributions import validate_votes

__all__ = [
    "AlphaResult",
    "KappaResult",
    "AnnotatorAgreement",
    "SyntheticHumanAgreement",
    "vote_counts",
    "agreement_summary",
    "krippendorff_alpha",
    "fleiss_kappa",
    "KAPPA_SCHEMES",
    "subsample_votes",
    "plurality",
    "synthetic_human_agreement",
]


def _nan_to_none(x: Any) -> Any:
    if isinstance(x, float) and np.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_nan_to_none(v) for v in x]
    return x


@dataclass(frozen=True)
class AlphaResult:
    """Krippendorff's α (nominal); ``alpha`` is NaN when undefined (all votes in one class)."""

    alpha: float
    n_items: int
    n_pairable_items: int
    n_votes: int

    def to_dict(self) -> dict[str, Any]:
        return _nan_to_none(asdict(self))


@dataclass(frozen=True)
class KappaResult:
    """Fleiss' κ under a documented scheme for varying vote counts (see the module docstring); ``n_raters`` is
    None for the ``reference`` scheme (each item keeps its own count)."""

    kappa: float
    kappa_sd: float
    n_raters: int | None
    n_items_used: int
    n_items_excluded: int
    scheme: str
    n_resamples: int

    def to_dict(self) -> dict[str, Any]:
        return _nan_to_none(asdict(self))


@dataclass(frozen=True)
class AnnotatorAgreement:
    """One synthetic annotator against the human plurality label (items with a unique human plurality)."""

    annotator: int
    n_items: int
    agreement: float
    cohen_kappa: float


@dataclass(frozen=True)
class SyntheticHumanAgreement:
    """How synthetic annotators agree with humans (see ``synthetic_human_agreement``)."""

    alpha_human: float
    alpha_synthetic: float
    alpha_pooled: float
    alpha_pooled_minus_human: float
    plurality_agreement: float
    n_items_plurality: int
    per_annotator: tuple[AnnotatorAgreement, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return _nan_to_none(asdict(self))


def vote_counts(votes: Any, *, name: str = "votes", n_classes: int | None = None) -> np.ndarray:
    """Whole vote counts as an int64 ``(n_items, n_classes)`` table (checked by
    :func:`hf_ambiguity.distributions.validate_votes`; agreement needs whole votes).

    >>> vote_counts([[1, 2], [0, 3]]).dtype
    dtype('int64')
    """
    return validate_votes(votes, name=name, n_classes=n_classes, integer=True).astype(np.int64)


def krippendorff_alpha(votes: Any) -> AlphaResult:
    """Nominal Krippendorff's α of a vote-count table (varying numbers of annotators allowed).

    Raises ``ValueError`` when no item has two or more votes (α needs pairable items).
    """
    v = vote_counts(votes)
    totals = v.sum(axis=1)
    pairable = int((totals >= 2).sum())
    if pairable == 0:
        raise ValueError("no item has two or more votes, so there are no pairs to compare; Krippendorff's alpha "
                         "needs at least one item rated by two annotators")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # one-class data: 0/0, reported as NaN
        alpha = float(krippendorff.alpha(value_counts=v, level_of_measurement="nominal"))
    return AlphaResult(alpha=alpha, n_items=int(v.shape[0]), n_pairable_items=pairable, n_votes=int(totals.sum()))


def subsample_votes(votes: np.ndarray, n_raters: int, rng: np.random.Generator) -> np.ndarray:
    """Reduce each row of ``votes`` (all with >= ``n_raters`` votes) to ``n_raters`` votes drawn without
    replacement, vectorised over items (random keys per vote, keep the ``n_raters`` smallest per item).

    >>> subsample_votes(np.array([[2, 3], [4, 0]]), 3, np.random.default_rng(0)).sum(axis=1).tolist()
    [3, 3]
    """
    n, k = votes.shape
    flat = votes.ravel()
    item = np.repeat(np.repeat(np.arange(n), k), flat)
    cls = np.repeat(np.tile(np.arange(k), n), flat)
    order = np.lexsort((rng.random(item.size), item))  # grouped by item (already ascending), random within item
    totals = votes.sum(axis=1)
    starts = np.concatenate([[0], np.cumsum(totals)[:-1]])
    pos = np.arange(item.size) - np.repeat(starts, totals)
    keep = order[pos < n_raters]
    return np.bincount(item[keep] * k + cls[keep], minlength=n * k).reshape(n, k)


#: The schemes of :func:`fleiss_kappa` for items with different numbers of votes.
KAPPA_SCHEMES = ("subsample", "modal", "reference")


def fleiss_kappa(votes: Any, *, scheme: Literal["subsample", "modal", "reference"] = "subsample",
                 n_raters: int | None = None, n_resamples: int = 20, seed: int = 0) -> KappaResult:
    """Fleiss' κ of a vote-count table whose items may have different numbers of votes.

    See the module docstring for the three schemes. When every item has the same count (two or more), all three
    give the plain statsmodels value.
    """
    if scheme not in KAPPA_SCHEMES:
        raise ValueError(f"scheme must be one of {list(KAPPA_SCHEMES)}, got {scheme!r}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    v = vote_counts(votes)
    totals = v.sum(axis=1)
    if scheme == "reference":
        return _reference_kappa(v, totals)
    rated = totals >= 2
    if not rated.any():
        raise ValueError("no item has two or more votes; Fleiss' kappa needs at least two ratings per item")
    if scheme == "modal":
        counts = np.bincount(totals[rated])
        m = int(np.argmax(counts))  # smallest of the most common counts
        use = totals == m
        table = v[use]
        kappa = float(inter_rater.fleiss_kappa(table, method="fleiss"))
        return KappaResult(kappa=kappa, kappa_sd=0.0, n_raters=m, n_items_used=int(use.sum()),
                           n_items_excluded=int((~use).sum()), scheme=scheme, n_resamples=1)
    m = int(totals[rated].min()) if n_raters is None else int(n_raters)
    if m < 2:
        raise ValueError(f"n_raters must be >= 2, got {m}")
    use = totals >= m
    if not use.any():
        raise ValueError(f"no item has {m} or more votes; lower n_raters (largest count is {int(totals.max())})")
    sub = v[use]
    if (totals[use] == m).all():  # nothing to resample
        kappas = np.array([inter_rater.fleiss_kappa(sub, method="fleiss")])
    else:
        rng = np.random.default_rng(seed)
        kappas = np.array([inter_rater.fleiss_kappa(subsample_votes(sub, m, rng), method="fleiss")
                           for _ in range(n_resamples)])
    return KappaResult(kappa=float(kappas.mean()), kappa_sd=float(kappas.std(ddof=1)) if kappas.size > 1 else 0.0,
                       n_raters=m, n_items_used=int(use.sum()), n_items_excluded=int((~use).sum()), scheme=scheme,
                       n_resamples=int(kappas.size))


def _reference_kappa(v: np.ndarray, totals: np.ndarray) -> KappaResult:
    """The reference evaluation library's κ for varying counts (see the module docstring); our own code."""
    rated = totals > 0
    if not rated.any():
        raise ValueError("no item has a vote; Fleiss' kappa needs rated items")
    r, n = v[rated].astype(np.float64), totals[rated].astype(np.float64)

    def result(kappa: float) -> KappaResult:
        return KappaResult(kappa=float(kappa), kappa_sd=0.0, n_raters=None, n_items_used=int(rated.sum()),
                           n_items_excluded=int((~rated).sum()), scheme="reference", n_resamples=1)

    if n.mean() <= 1 or v.shape[1] <= 1:
        return result(1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_i = np.where(n > 1, (r * (r - 1)).sum(axis=1) / (n * (n - 1)), 1.0)
    p_bar = float(p_i.mean())
    p_e = float(((r.sum(axis=0) / r.sum()) ** 2).sum())
    if abs(p_e - 1.0) < 1e-10:
        return result(1.0 if p_bar > 0.99 else 0.0)
    return result(float(np.clip((p_bar - p_e) / (1.0 - p_e), -1.0, 1.0)))


def plurality(votes: np.ndarray) -> np.ndarray:
    """The class with the most votes per item, or -1 where the top count is tied or there are no votes.

    >>> plurality(np.array([[2, 1, 0], [1, 1, 0], [0, 0, 0]])).tolist()
    [0, -1, -1]
    """
    top = votes.max(axis=1)
    unique = ((votes == top[:, None]).sum(axis=1) == 1) & (top > 0)
    return np.where(unique, votes.argmax(axis=1), -1)


def _alpha_or_nan(votes: np.ndarray) -> float:
    """Krippendorff's α, or NaN when no item has two votes (α undefined, reported as None by ``to_dict``)."""
    if not (votes.sum(axis=1) >= 2).any():
        return float("nan")
    return krippendorff_alpha(votes).alpha


def synthetic_human_agreement(human_votes: Any, synthetic_votes: Any, *, synthetic_labels: Any = None
                              ) -> SyntheticHumanAgreement:
    """Agreement of synthetic annotators with humans on the same items (same class order).

    Args:
        human_votes, synthetic_votes: ``(n_items, n_classes)`` vote counts.
        synthetic_labels: optional ``(n_items, n_annotators)`` class indices per synthetic annotator (-1 = no
            valid answer) for the per-annotator figures. They must be the labels ``synthetic_votes`` counts: an
            item whose labels do not add up to its vote row raises, naming the item.

    Returns α of humans, of synthetic annotators and of all votes pooled (and pooled − human: negative means the
    synthetic votes disagree with humans more than humans disagree among themselves; an α with no item of two
    votes, e.g. one synthetic annotator, is NaN); ``plurality_agreement``:
    the fraction of items with a unique human and a unique synthetic plurality where the two agree; per annotator,
    agreement rate and Cohen's κ with the unique human plurality.
    """
    h = vote_counts(human_votes, name="human_votes")
    s = vote_counts(synthetic_votes, name="synthetic_votes", n_classes=h.shape[1])
    if s.shape[0] != h.shape[0]:
        raise ValueError(f"human_votes has {h.shape[0]} items but synthetic_votes has {s.shape[0]}: both must "
                         "describe the same items in the same order")
    a_h = _alpha_or_nan(h)
    a_s = _alpha_or_nan(s)  # NaN with one synthetic annotator: nothing to pair; the other figures still hold
    a_p = _alpha_or_nan(h + s)
    ph, ps = plurality(h), plurality(s)
    both = (ph >= 0) & (ps >= 0)
    plur = float((ph[both] == ps[both]).mean()) if both.any() else float("nan")
    per: list[AnnotatorAgreement] = []
    if synthetic_labels is not None:
        lab = np.asarray(synthetic_labels)
        if lab.ndim != 2 or lab.shape[0] != h.shape[0]:
            raise ValueError(f"synthetic_labels must be (n_items={h.shape[0]}, n_annotators), got shape {lab.shape}")
        k = h.shape[1]
        bad = ((lab < -1) | (lab >= k) | (lab != np.round(lab))).any(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"synthetic_labels row {i} has a value outside -1..{k - 1}: {lab[i].tolist()}")
        lab = lab.astype(np.int64)
        counted = np.zeros_like(s)
        rows, cols = np.nonzero(lab >= 0)
        np.add.at(counted, (rows, lab[rows, cols]), 1)
        differ = (counted != s).any(axis=1)
        if differ.any():
            i = int(np.flatnonzero(differ)[0])
            raise ValueError(f"synthetic_labels row {i} counts {counted[i].tolist()} per class but synthetic_votes "
                             f"row {i} is {s[i].tolist()}: the labels must be the votes' own labels, in the same "
                             "items and class order")
        for j in range(lab.shape[1]):
            ok = (ph >= 0) & (lab[:, j] >= 0)
            if not ok.any():
                per.append(AnnotatorAgreement(j, 0, float("nan"), float("nan")))
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                kappa = float(cohen_kappa_score(ph[ok], lab[ok, j], labels=list(range(k))))
            per.append(AnnotatorAgreement(j, int(ok.sum()), float((ph[ok] == lab[ok, j]).mean()), kappa))
    return SyntheticHumanAgreement(alpha_human=a_h, alpha_synthetic=a_s, alpha_pooled=a_p,
                                   alpha_pooled_minus_human=a_p - a_h, plurality_agreement=plur,
                                   n_items_plurality=int(both.sum()), per_annotator=tuple(per))


def agreement_summary(votes: np.ndarray, *, kappa_scheme: str = "subsample") -> dict[str, Any]:
    """Krippendorff's α and Fleiss' κ (``kappa_scheme``: ``subsample`` by default, ``reference`` for the reference's
    estimator) of a whole-number vote-count table; a statistic that is undefined on this data (e.g. no item with two
    votes) is ``None`` with the reason in ``note``. Fractional counts raise (agreement needs whole votes)."""
    v = vote_counts(votes)
    out: dict[str, Any] = {}
    notes = []
    try:
        out["krippendorff_alpha"] = krippendorff_alpha(v).alpha
    except ValueError as exc:
        out["krippendorff_alpha"] = None
        notes.append(f"α undefined: {exc}")
    try:
        k = fleiss_kappa(v, scheme=kappa_scheme)
        out["fleiss_kappa"] = k.kappa
        how = ("the reference's estimator, each item with its own count" if k.scheme == "reference" else
               f"{k.scheme} to {k.n_raters} raters")
        notes.append(f"κ on {k.n_items_used} items, {how}"
                     + (f" ({k.n_items_excluded} excluded)" if k.n_items_excluded else ""))
    except ValueError as exc:
        out["fleiss_kappa"] = None
        notes.append(f"κ undefined: {exc}")
    out["note"] = "; ".join(notes)
    return out
