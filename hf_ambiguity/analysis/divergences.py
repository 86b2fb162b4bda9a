"""Row-wise divergences and similarities between emotion distributions: each formula written once.

Every function is vectorised over items: ``p`` and ``q`` are ``(n_items, n_classes)`` probability vectors in the same
class order (or one ``(n_classes,)`` vector each, then a float is returned). The formulas are kernels on class-major
``(n_classes, n_items)`` arrays (``*_cm``), which the bootstrap engine of :mod:`hf_ambiguity.analysis.alignment`
calls on blocks of items; the public row-wise functions validate their input and call the same kernels.

Two Jensen–Shannon figures are reported because the reference method uses both:

- ``js_divergence(p, q, base=2.0)``: JSD in bits, in [0, 1] (the reference's headline tables);
- ``js_distance(p, q)``: sqrt of JSD in nats, identical to ``scipy.spatial.distance.jensenshannon(p, q)``
  (the reference's per-ambiguity figure).

>>> p = np.array([[0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
>>> q = np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
>>> js_divergence(p, q)
array([0., 1.])
>>> bhattacharyya_coefficient(p, q)
array([1., 0.])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import entr, rel_entr
from scipy.stats import rankdata

from hf_ambiguity.distributions import DIST_ATOL, as_table, validate_distributions, votes_to_distribution
from hf_ambiguity.errors import DistributionError
from hf_ambiguity.schema import AMBIGUITY_LEVELS

__all__ = [
    "js_divergence", "js_distance", "bhattacharyya_coefficient", "kl_divergence", "total_variation_distance",
    "cosine_similarity", "top1_agreement", "spearman_per_item", "shannon_entropy", "as_distribution_pair",
    "check_ambiguity", "ambiguity_codes", "KL_EPSILON", "TIE_ATOL",
    "entropy_cm", "jsd_natural_cm", "bhattacharyya_cm", "kl_cm", "tvd_cm", "cosine_cm", "top1_cm", "spearman_cm",
]

#: Additive smoothing of the KL divergence: both vectors get ``+ KL_EPSILON`` per class and are renormalised,
#: so that a class the prediction gives zero probability costs a large but finite amount.
KL_EPSILON = 1e-6
#: Two entries within this absolute distance of a row's maximum are tied for top-1.
TIE_ATOL = 1e-9


# --------------------------------------------------------------------------------------------------------------
# input handling


def _plainly_valid(arr: np.ndarray, atol: float) -> bool:
    """Fast whole-array check (no per-row reductions); False sends the input through the row-naming validator."""
    with np.errstate(invalid="ignore"):
        if not np.isfinite(arr).all() or arr.min() < 0:
            return False
    return bool((np.abs(arr @ np.ones(arr.shape[1]) - 1.0) <= atol).all())


def _prepare(x: Any, name: str, *, renormalize: bool, atol: float, n_classes: int | None = None) -> np.ndarray:
    arr = as_table(x, name)
    if arr.ndim == 1 and arr.size == 0:
        raise ValueError(f"{name} is empty: at least one row is needed")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_items, n_classes), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one row is needed")
    if n_classes is not None and arr.shape[1] != n_classes:
        raise ValueError(
            f"{name} rows have {arr.shape[1]} entries but the other input's rows have {n_classes}: both must use "
            "the same class order"
        )
    if not renormalize and _plainly_valid(arr, atol):
        return arr
    if renormalize:
        return votes_to_distribution(arr, name=name)
    try:
        return validate_distributions(arr, atol=atol, name=name)
    except DistributionError as err:
        if err.reason.startswith("does not sum to 1"):
            raise DistributionError(err.row, f"{err.reason}: {arr[err.row].tolist()}; pass renormalize=True to "
                                    "divide counts by their row totals", name=name) from None
        raise


def as_distribution_pair(predictions: Any, references: Any, *, renormalize: bool = False,
                         atol: float = DIST_ATOL) -> tuple[np.ndarray, np.ndarray]:
    """Validate two ``(n_items, n_classes)`` inputs of the same shape and return them as float64 arrays.

    Raises ``ValueError`` naming the input and its first offending row: not summing to 1 within ``atol``, a
    negative entry, NaN/inf, a length different from the other rows, an empty input, or different numbers of
    items; a negative or non-finite ``atol`` is refused (even with ``renormalize``, where it is unused). With
    ``renormalize=True`` rows are counts and are divided by their totals (an all-zero row raises).

    >>> as_distribution_pair([[2, 2]], [[1, 0]], renormalize=True)[0]
    array([[0.5, 0.5]])
    """
    if not np.isfinite(atol) or atol < 0:
        raise ValueError(f"atol (the tolerance of 'sums to 1') must be a finite number >= 0, got {atol}")
    p = _prepare(predictions, "predictions", renormalize=renormalize, atol=atol)
    q = _prepare(references, "references", renormalize=renormalize, atol=atol, n_classes=p.shape[1])
    if p.shape[0] != q.shape[0]:
        raise ValueError(
            f"predictions has {p.shape[0]} rows but references has {q.shape[0]}: one prediction per reference "
            "item is needed"
        )
    return p, q


def ambiguity_codes(ambiguity: Any, n_items: int, levels: Sequence[str]) -> np.ndarray:
    """Index into ``levels`` per item (int64), or ``ValueError`` naming the first row with an unknown level."""
    amb = np.asarray(ambiguity)
    if amb.ndim != 1 or amb.shape[0] != n_items:
        raise ValueError(f"ambiguity needs one level per item ({n_items}), got shape {amb.shape}")
    codes = np.full(n_items, -1, dtype=np.int64)
    if amb.dtype.kind in "UO":
        for j, level in enumerate(levels):
            codes[amb == level] = j
    if (codes < 0).any():
        i = int(np.flatnonzero(codes < 0)[0])
        bad = amb[i].item() if isinstance(amb[i], np.generic) else amb[i]
        raise ValueError(f"ambiguity row {i} has unknown level {bad!r}; expected one of {list(levels)}")
    return codes


def check_ambiguity(ambiguity: Any, n_items: int, *, levels: Sequence[str] = AMBIGUITY_LEVELS) -> np.ndarray:
    """Per-item ambiguity levels as a string array, or ``ValueError`` naming the first unknown level's row.

    >>> check_ambiguity(["low", "high"], 2).tolist()
    ['low', 'high']
    """
    return np.asarray(list(levels))[ambiguity_codes(ambiguity, n_items, levels)]


# --------------------------------------------------------------------------------------------------------------
# kernels on class-major (n_classes, n_items) arrays: every formula once


def entropy_cm(pt: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats of each column (0·log 0 = 0)."""
    return entr(pt).sum(axis=0)


def jsd_natural_cm(pt: np.ndarray, qt: np.ndarray, h_p: np.ndarray | None = None,
                   h_q: np.ndarray | None = None) -> np.ndarray:
    """Jensen–Shannon divergence in nats: H(m) − (H(p) + H(q)) / 2, m = (p + q) / 2 (exactly 0 for p == q, since
    then m == p bit for bit). ``h_p`` / ``h_q`` are the columns' entropies when already computed."""
    h_p = entropy_cm(pt) if h_p is None else h_p
    h_q = entropy_cm(qt) if h_q is None else h_q
    return np.maximum(entropy_cm(0.5 * (pt + qt)) - 0.5 * (h_p + h_q), 0.0)


def bhattacharyya_cm(pt: np.ndarray, qt: np.ndarray, pq: np.ndarray | None = None) -> np.ndarray:
    """Σ_k sqrt(p_k q_k) (``pq`` = the elementwise product when already computed)."""
    return np.sqrt(pt * qt if pq is None else pq).sum(axis=0)


def kl_cm(qt: np.ndarray, pt: np.ndarray, epsilon: float) -> np.ndarray:
    """KL(q ‖ p) in nats after additive ε-smoothing of both (``epsilon=0``: unsmoothed, possibly inf)."""
    if epsilon > 0:
        scale = 1.0 + qt.shape[0] * epsilon
        ps, qs = (pt + epsilon) / scale, (qt + epsilon) / scale
        return (qs * np.log(qs / ps)).sum(axis=0)
    return rel_entr(qt, pt).sum(axis=0)


def tvd_cm(pt: np.ndarray, qt: np.ndarray) -> np.ndarray:
    """Total variation distance ½ Σ_k |p_k − q_k|."""
    return 0.5 * np.abs(pt - qt).sum(axis=0)


def cosine_cm(pt: np.ndarray, qt: np.ndarray, pq: np.ndarray | None = None) -> np.ndarray:
    """p·q / (|p| |q|)."""
    return (pt * qt if pq is None else pq).sum(axis=0) / np.sqrt((pt * pt).sum(axis=0) * (qt * qt).sum(axis=0))


def top1_cm(pt: np.ndarray, qt: np.ndarray, tie_atol: float) -> np.ndarray:
    """|T_p ∩ T_q| / (|T_p| · |T_q|), T = the classes within ``tie_atol`` of the column's maximum."""
    top_p = pt >= pt.max(axis=0) - tie_atol
    top_q = qt >= qt.max(axis=0) - tie_atol
    return (top_p & top_q).sum(axis=0) / (top_p.sum(axis=0) * top_q.sum(axis=0))


def _centred_ranks_cols(xt: np.ndarray) -> np.ndarray:
    """Twice the centred average ranks (rank − (k + 1)/2) of each column of a class-major ``(k, n)`` array.

    2·(rank_i − (k + 1)/2) = #{j: x_j < x_i} − #{j: x_j > x_i}, ties averaged as ``scipy.stats.rankdata``; the
    constant factor 2 cancels in a correlation.
    """
    k = xt.shape[0]
    if k > 32:  # pairwise is O(k²) passes; int8 counts also need k <= 127
        return 2.0 * (rankdata(xt, axis=0) - (k + 1) / 2.0)
    acc = np.zeros(xt.shape, dtype=np.int8)
    for i in range(k):
        for j in range(i + 1, k):
            s = (xt[i] > xt[j]).view(np.int8) - (xt[i] < xt[j]).view(np.int8)
            acc[i] += s
            acc[j] -= s
    return acc.astype(np.float64)


def spearman_cm(pt: np.ndarray, qt: np.ndarray) -> np.ndarray:
    """Per-item Spearman correlation from class-major ``(k, n)`` arrays; NaN where a vector is constant."""
    rp = _centred_ranks_cols(pt)
    rq = _centred_ranks_cols(qt)
    num = (rp * rq).sum(axis=0)
    den = np.sqrt((rp * rp).sum(axis=0) * (rq * rq).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


# --------------------------------------------------------------------------------------------------------------
# row-wise statistics (each (n_items,) or a float for one vector)


def _row_pair(p: Any, q: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validated class-major pair for the row-wise functions; third value says whether the input was one vector."""
    pa, qa = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    single = pa.ndim == 1 and qa.ndim == 1
    if single:
        pa, qa = pa[None, :], qa[None, :]
    pa, qa = as_distribution_pair(pa, qa)
    return np.ascontiguousarray(pa.T), np.ascontiguousarray(qa.T), single


def _out(values: np.ndarray, single: bool) -> np.ndarray | float:
    return float(values[0]) if single else values


def js_divergence(p: Any, q: Any, *, base: float = 2.0) -> np.ndarray | float:
    """Jensen–Shannon divergence per row, in units of ``log(base)`` (base 2: bits, range [0, 1]).

    JSD(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q) / 2, with 0·log 0 = 0. Equals
    ``scipy.spatial.distance.jensenshannon(p, q, base=base) ** 2``.

    >>> js_divergence([1.0, 0.0], [0.0, 1.0])
    1.0
    """
    pt, qt, single = _row_pair(p, q)
    return _out(jsd_natural_cm(pt, qt) / np.log(base), single)


def js_distance(p: Any, q: Any, *, base: float | None = None) -> np.ndarray | float:
    """Jensen–Shannon distance per row: sqrt of the JSD, natural log by default (scipy's ``jensenshannon``).

    >>> round(js_distance([1.0, 0.0], [0.0, 1.0]), 6)  # sqrt(ln 2)
    0.832555
    """
    pt, qt, single = _row_pair(p, q)
    jsd = jsd_natural_cm(pt, qt)
    if base is not None:
        jsd = jsd / np.log(base)
    return _out(np.sqrt(jsd), single)


def bhattacharyya_coefficient(p: Any, q: Any) -> np.ndarray | float:
    """Bhattacharyya coefficient Σ_k sqrt(p_k q_k) per row: 1 for identical, 0 for disjoint distributions.

    >>> bhattacharyya_coefficient([0.5, 0.5], [1.0, 0.0])  # doctest: +ELLIPSIS
    0.7071...
    """
    pt, qt, single = _row_pair(p, q)
    return _out(bhattacharyya_cm(pt, qt), single)


def kl_divergence(references: Any, predictions: Any, *, epsilon: float = KL_EPSILON) -> np.ndarray | float:
    """KL(references ‖ predictions) per row in nats, after additive ε-smoothing of both vectors.

    Each vector becomes ``(x + epsilon) / (1 + n_classes * epsilon)`` so that a zero predicted probability where
    the reference has mass gives a large finite value instead of infinity. ``epsilon=0`` gives the unsmoothed KL
    (``scipy.stats.entropy(references, predictions)``), possibly ``inf``.

    >>> round(kl_divergence([0.5, 0.5], [0.5, 0.5]), 12)
    0.0
    """
    qt, pt, single = _row_pair(references, predictions)
    return _out(kl_cm(qt, pt, epsilon), single)


def total_variation_distance(p: Any, q: Any) -> np.ndarray | float:
    """Total variation distance ½ Σ_k |p_k − q_k| per row, in [0, 1].

    >>> total_variation_distance([1.0, 0.0], [0.5, 0.5])
    0.5
    """
    pt, qt, single = _row_pair(p, q)
    return _out(tvd_cm(pt, qt), single)


def cosine_similarity(p: Any, q: Any) -> np.ndarray | float:
    """Cosine similarity p·q / (|p| |q|) per row (distributions are non-negative, so in [0, 1]).

    >>> cosine_similarity([1.0, 0.0], [0.0, 1.0])
    0.0
    """
    pt, qt, single = _row_pair(p, q)
    return _out(cosine_cm(pt, qt), single)


def top1_agreement(p: Any, q: Any, *, tie_atol: float = TIE_ATOL) -> np.ndarray | float:
    """Tie-aware top-1 agreement per row: |T_p ∩ T_q| / (|T_p| · |T_q|).

    ``T_p`` and ``T_q`` are the sets of classes within ``tie_atol`` of each row's maximum. The value is the
    probability that the top classes agree when each side breaks its ties uniformly at random: 1 for the same
    unique top class, 0 for disjoint top sets, 1/3 for a three-way human tie that contains the predicted class.
    (``argmax_accuracy`` instead takes the first maximal index on both sides, like ``numpy.argmax``.)

    >>> round(top1_agreement([0.2, 0.8, 0.0], [1/3, 1/3, 1/3]), 6)
    0.333333
    """
    pt, qt, single = _row_pair(p, q)
    return _out(top1_cm(pt, qt, tie_atol), single)


def spearman_per_item(p: Any, q: Any) -> np.ndarray | float:
    """Spearman rank correlation between the two vectors of each row (across classes), ties averaged.

    NaN where either vector is constant (e.g. uniform), as ``scipy.stats.spearmanr`` gives; the dataset-level
    figure averages the defined rows and reports how many were undefined.

    >>> spearman_per_item([0.7, 0.2, 0.1], [0.5, 0.3, 0.2])
    1.0
    """
    pt, qt, single = _row_pair(p, q)
    return _out(spearman_cm(pt, qt), single)


def shannon_entropy(p: Any) -> np.ndarray | float:
    """Shannon entropy in nats per row (0·log 0 = 0), like ``scipy.stats.entropy(p)``.

    >>> round(shannon_entropy([0.5, 0.5]), 6)
    0.693147
    """
    arr = np.asarray(p, dtype=np.float64)
    single = arr.ndim == 1
    arr = arr[None, :] if single else arr
    return _out(entropy_cm(arr.T), single)
