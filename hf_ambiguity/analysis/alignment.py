"""How well one set of emotion distributions matches another: the numerical core of every alignment figure.

All functions are vectorised over items. ``predictions`` and ``references`` are ``(n_items, n_classes)`` arrays of
probability vectors in the same class order (``references`` = the human distributions, ``predictions`` = synthetic,
merged or model distributions). Row-wise functions also accept one ``(n_classes,)`` vector and then return a float.

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
>>> stats = alignment_statistics(p, q)
>>> stats["overall"]["js_divergence_base2"], stats["overall"]["bhattacharyya_coefficient"]
(0.5, 0.5)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from scipy.special import entr, rel_entr
from scipy.stats import rankdata

from hf_ambiguity.distributions import DIST_ATOL, validate_distributions, votes_to_distribution
from hf_ambiguity.schema import AMBIGUITY_LEVELS

__all__ = [
    "js_divergence",
    "js_distance",
    "bhattacharyya_coefficient",
    "kl_divergence",
    "total_variation_distance",
    "cosine_similarity",
    "top1_agreement",
    "spearman_per_item",
    "shannon_entropy",
    "as_distribution_pair",
    "check_ambiguity",
    "alignment_statistics",
    "STATISTIC_NAMES",
    "KL_EPSILON",
    "ECE_BINS",
    "TIE_ATOL",
]

#: Additive smoothing of the KL divergence: both vectors get ``+ KL_EPSILON`` per class and are renormalised,
#: so that a class the prediction gives zero probability costs a large but finite amount.
KL_EPSILON = 1e-6
#: Number of equal-width confidence bins of the expected calibration error.
ECE_BINS = 10
#: Two entries within this absolute distance of a row's maximum are tied for top-1.
TIE_ATOL = 1e-9

#: Every statistic ``alignment_statistics`` reports, in output order (each also gets a bootstrap CI).
STATISTIC_NAMES = (
    "js_divergence_base2",
    "js_distance_natural",
    "bhattacharyya_coefficient",
    "kl_divergence_natural",
    "total_variation_distance",
    "cosine_similarity",
    "top1_agreement",
    "argmax_accuracy",
    "f1_macro",
    "f1_weighted",
    "r2_uniform_average",
    "ece_10bin_argmax",
    "ece_10bin_soft",
    "spearman_per_item",
    "entropy_pearson_r",
    "mean_prediction_entropy_natural",
    "mean_reference_entropy_natural",
)


# --------------------------------------------------------------------------------------------------------------
# input handling


def _to_2d(x: Any, name: str) -> np.ndarray:
    """``x`` as a float64 2-D array; ragged input raises naming the first row whose length differs."""
    if isinstance(x, np.ndarray) and x.dtype != object:  # object arrays may be ragged: checked row by row below
        arr = x.astype(np.float64, copy=False)
    else:
        try:
            arr = np.asarray(x, dtype=np.float64)
        except (ValueError, TypeError):
            rows = list(x)
            if not rows:
                raise ValueError(f"{name} is empty: at least one row is needed") from None
            first = len(rows[0])
            for i, row in enumerate(rows):
                if len(row) != first:
                    raise ValueError(
                        f"{name} row {i} has {len(row)} entries but row 0 has {first}: every vector needs one "
                        "entry per class, in the same class order"
                    ) from None
            arr = np.stack([np.asarray(row, dtype=np.float64) for row in rows])  # e.g. an object array of rows
    if arr.ndim == 1 and arr.size == 0:
        raise ValueError(f"{name} is empty: at least one row is needed")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_items, n_classes), got shape {arr.shape}")
    return arr


def _plainly_valid(arr: np.ndarray, atol: float) -> bool:
    """Fast whole-array check (no per-row reductions); False sends the input through the row-naming validator."""
    with np.errstate(invalid="ignore"):
        if not np.isfinite(arr).all() or arr.min() < 0:
            return False
    return bool((np.abs(arr @ np.ones(arr.shape[1]) - 1.0) <= atol).all())


def _prepare(x: Any, name: str, *, renormalize: bool, atol: float, n_classes: int | None = None) -> np.ndarray:
    arr = _to_2d(x, name)
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
        try:
            return votes_to_distribution(arr)
        except ValueError as err:
            raise ValueError(f"{name} {err}") from None
    try:
        return validate_distributions(arr, atol=atol, name=name)
    except ValueError as err:
        if "does not sum to 1" in str(err):
            raise ValueError(f"{err}; pass renormalize=True to divide counts by their row totals") from None
        raise


def as_distribution_pair(predictions: Any, references: Any, *, renormalize: bool = False,
                         atol: float = DIST_ATOL) -> tuple[np.ndarray, np.ndarray]:
    """Validate two ``(n_items, n_classes)`` inputs of the same shape and return them as float64 arrays.

    Raises ``ValueError`` naming the input and its first offending row: not summing to 1 within ``atol``, a
    negative entry, NaN/inf, a length different from the other rows, an empty input, or different numbers of
    items. With ``renormalize=True`` rows are counts and are divided by their totals (an all-zero row raises).

    >>> as_distribution_pair([[2, 2]], [[1, 0]], renormalize=True)[0]
    array([[0.5, 0.5]])
    """
    p = _prepare(predictions, "predictions", renormalize=renormalize, atol=atol)
    q = _prepare(references, "references", renormalize=renormalize, atol=atol, n_classes=p.shape[1])
    if p.shape[0] != q.shape[0]:
        raise ValueError(
            f"predictions has {p.shape[0]} rows but references has {q.shape[0]}: one prediction per reference "
            "item is needed"
        )
    return p, q


def _row_pair(p: Any, q: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validated pair for the row-wise functions; third value says whether the input was one vector."""
    pa, qa = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    single = pa.ndim == 1 and qa.ndim == 1
    if single:
        pa, qa = pa[None, :], qa[None, :]
    pa, qa = as_distribution_pair(pa, qa)
    return pa, qa, single


def _out(values: np.ndarray, single: bool) -> np.ndarray | float:
    return float(values[0]) if single else values


def _ambiguity_codes(ambiguity: Any, n_items: int, levels: Sequence[str]) -> np.ndarray:
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
    return np.asarray(list(levels))[_ambiguity_codes(ambiguity, n_items, levels)]


# --------------------------------------------------------------------------------------------------------------
# row-wise statistics (each (n_items,) or a float for one vector)


def _jsd_natural(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    m = 0.5 * (p + q)
    jsd = 0.5 * (rel_entr(p, m).sum(axis=1) + rel_entr(q, m).sum(axis=1))
    return np.maximum(jsd, 0.0)


def js_divergence(p: Any, q: Any, *, base: float = 2.0) -> np.ndarray | float:
    """Jensen–Shannon divergence per row, in units of ``log(base)`` (base 2: bits, range [0, 1]).

    JSD(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q) / 2, with 0·log 0 = 0. Equals
    ``scipy.spatial.distance.jensenshannon(p, q, base=base) ** 2``.

    >>> js_divergence([1.0, 0.0], [0.0, 1.0])
    1.0
    """
    pa, qa, single = _row_pair(p, q)
    return _out(_jsd_natural(pa, qa) / np.log(base), single)


def js_distance(p: Any, q: Any, *, base: float | None = None) -> np.ndarray | float:
    """Jensen–Shannon distance per row: sqrt of the JSD, natural log by default (scipy's ``jensenshannon``).

    >>> round(js_distance([1.0, 0.0], [0.0, 1.0]), 6)  # sqrt(ln 2)
    0.832555
    """
    pa, qa, single = _row_pair(p, q)
    jsd = _jsd_natural(pa, qa)
    if base is not None:
        jsd = jsd / np.log(base)
    return _out(np.sqrt(jsd), single)


def bhattacharyya_coefficient(p: Any, q: Any) -> np.ndarray | float:
    """Bhattacharyya coefficient Σ_k sqrt(p_k q_k) per row: 1 for identical, 0 for disjoint distributions.

    >>> bhattacharyya_coefficient([0.5, 0.5], [1.0, 0.0])  # doctest: +ELLIPSIS
    0.7071...
    """
    pa, qa, single = _row_pair(p, q)
    return _out(np.sqrt(pa * qa).sum(axis=1), single)


def _kl(p: np.ndarray, q: np.ndarray, epsilon: float) -> np.ndarray:
    k = p.shape[1]
    ps = (p + epsilon) / (1.0 + k * epsilon)
    qs = (q + epsilon) / (1.0 + k * epsilon)
    return rel_entr(ps, qs).sum(axis=1)


def kl_divergence(references: Any, predictions: Any, *, epsilon: float = KL_EPSILON) -> np.ndarray | float:
    """KL(references ‖ predictions) per row in nats, after additive ε-smoothing of both vectors.

    Each vector becomes ``(x + epsilon) / (1 + n_classes * epsilon)`` so that a zero predicted probability where
    the reference has mass gives a large finite value instead of infinity. ``epsilon=0`` gives the unsmoothed KL
    (``scipy.stats.entropy(references, predictions)``), possibly ``inf``.

    >>> round(kl_divergence([0.5, 0.5], [0.5, 0.5]), 12)
    0.0
    """
    qa, pa, single = _row_pair(references, predictions)
    return _out(_kl(qa, pa, epsilon), single)


def total_variation_distance(p: Any, q: Any) -> np.ndarray | float:
    """Total variation distance ½ Σ_k |p_k − q_k| per row, in [0, 1].

    >>> total_variation_distance([1.0, 0.0], [0.5, 0.5])
    0.5
    """
    pa, qa, single = _row_pair(p, q)
    return _out(0.5 * np.abs(pa - qa).sum(axis=1), single)


def _cosine(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", p, q) / np.sqrt(np.einsum("ij,ij->i", p, p) * np.einsum("ij,ij->i", q, q))


def cosine_similarity(p: Any, q: Any) -> np.ndarray | float:
    """Cosine similarity p·q / (|p| |q|) per row (distributions are non-negative, so in [0, 1]).

    >>> cosine_similarity([1.0, 0.0], [0.0, 1.0])
    0.0
    """
    pa, qa, single = _row_pair(p, q)
    return _out(_cosine(pa, qa), single)


def _top1(p: np.ndarray, q: np.ndarray, tie_atol: float) -> np.ndarray:
    tp = p >= p.max(axis=1, keepdims=True) - tie_atol
    tq = q >= q.max(axis=1, keepdims=True) - tie_atol
    return (tp & tq).sum(axis=1) / (tp.sum(axis=1) * tq.sum(axis=1))


def top1_agreement(p: Any, q: Any, *, tie_atol: float = TIE_ATOL) -> np.ndarray | float:
    """Tie-aware top-1 agreement per row: |T_p ∩ T_q| / (|T_p| · |T_q|).

    ``T_p`` and ``T_q`` are the sets of classes within ``tie_atol`` of each row's maximum. The value is the
    probability that the top classes agree when each side breaks its ties uniformly at random: 1 for the same
    unique top class, 0 for disjoint top sets, 1/3 for a three-way human tie that contains the predicted class.
    (``argmax_accuracy`` instead takes the first maximal index on both sides, like ``numpy.argmax``.)

    >>> round(top1_agreement([0.2, 0.8, 0.0], [1/3, 1/3, 1/3]), 6)
    0.333333
    """
    pa, qa, single = _row_pair(p, q)
    return _out(_top1(pa, qa, tie_atol), single)


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


def _spearman_cols(pt: np.ndarray, qt: np.ndarray) -> np.ndarray:
    """Per-item Spearman correlation from class-major ``(k, n)`` arrays; NaN where a vector is constant."""
    rp = _centred_ranks_cols(pt)
    rq = _centred_ranks_cols(qt)
    num = (rp * rq).sum(axis=0)
    den = np.sqrt((rp * rp).sum(axis=0) * (rq * rq).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _spearman(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return _spearman_cols(np.ascontiguousarray(p.T), np.ascontiguousarray(q.T))


def spearman_per_item(p: Any, q: Any) -> np.ndarray | float:
    """Spearman rank correlation between the two vectors of each row (across classes), ties averaged.

    NaN where either vector is constant (e.g. uniform), as ``scipy.stats.spearmanr`` gives; the dataset-level
    figure averages the defined rows and reports how many were undefined.

    >>> spearman_per_item([0.7, 0.2, 0.1], [0.5, 0.3, 0.2])
    1.0
    """
    pa, qa, single = _row_pair(p, q)
    return _out(_spearman(pa, qa), single)


def shannon_entropy(p: Any) -> np.ndarray | float:
    """Shannon entropy in nats per row (0·log 0 = 0), like ``scipy.stats.entropy(p)``.

    >>> round(shannon_entropy([0.5, 0.5]), 6)
    0.693147
    """
    arr = np.asarray(p, dtype=np.float64)
    single = arr.ndim == 1
    arr = arr[None, :] if single else arr
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(arr > 0, arr * np.log(np.where(arr > 0, arr, 1.0)), 0.0).sum(axis=1)
    return _out(h, single)


# --------------------------------------------------------------------------------------------------------------
# dataset-level statistics from weighted sums (point estimate: weights = 1; bootstrap: resample counts)


_CHUNK = 1 << 15  # items per block: class-major blocks stay in cache
_THREADS = min(8, os.cpu_count() or 1)  # worker threads over blocks (results do not depend on it)


def _item_block(p: np.ndarray, q: np.ndarray, kl_epsilon: float, tie_atol: float, n_bins: int,
                shifts: dict[str, Any]) -> dict[str, Any]:
    """Per-item quantities of one block of rows, computed on class-major ``(n_classes, n)`` copies
    (reductions over classes are then adds of contiguous vectors, several times faster than short-row sums).

    ``shifts`` are constants subtracted from the entropies and reference columns before their squares are summed:
    the statistics built on them are shift-invariant, and a shift near the mean keeps the sums well conditioned.
    """
    k = p.shape[1]
    pt, qt = np.ascontiguousarray(p.T), np.ascontiguousarray(q.T)
    h_p = entr(pt).sum(axis=0)
    h_q = entr(qt).sum(axis=0)
    # JSD = H(m) - (H(p) + H(q)) / 2 (exactly 0 for p == q, since then m == p bit for bit)
    jsd = np.maximum(entr(0.5 * (pt + qt)).sum(axis=0) - 0.5 * (h_p + h_q), 0.0)
    if kl_epsilon > 0:
        scale = 1.0 + k * kl_epsilon
        ps, qs = (pt + kl_epsilon) / scale, (qt + kl_epsilon) / scale
        kl = (qs * np.log(qs / ps)).sum(axis=0)
    else:
        kl = rel_entr(qt, pt).sum(axis=0)
    pq = pt * qt
    p_max, q_max = pt.max(axis=0), qt.max(axis=0)
    top_p, top_q = pt >= p_max - tie_atol, qt >= q_max - tie_atol
    pred = np.zeros(pt.shape[1], dtype=np.int64)
    true = np.zeros(pt.shape[1], dtype=np.int64)
    for j in range(k - 1, -1, -1):  # first maximal index, as np.argmax, without a slow axis-0 argmax
        pred[pt[j] == p_max] = j
        true[qt[j] == q_max] = j
    conf = p_max
    correct = (pred == true).astype(np.float64)
    spear = _spearman_cols(pt, qt)
    defined = ~np.isnan(spear)
    hp_c, hq_c = h_p - shifts["hp"], h_q - shifts["hq"]
    q_c = qt - shifts["q"][:, None]
    columns = {
        "js_divergence_base2": jsd / np.log(2.0),
        "js_distance_natural": np.sqrt(jsd),
        "bhattacharyya_coefficient": np.sqrt(pq).sum(axis=0),
        "kl_divergence_natural": kl,
        "total_variation_distance": 0.5 * np.abs(pt - qt).sum(axis=0),
        "cosine_similarity": pq.sum(axis=0) / np.sqrt((pt * pt).sum(axis=0) * (qt * qt).sum(axis=0)),
        "top1_agreement": (top_p & top_q).sum(axis=0) / (top_p.sum(axis=0) * top_q.sum(axis=0)),
        "argmax_accuracy": correct,
        "spearman_sum": np.where(defined, spear, 0.0),
        "spearman_defined": defined.astype(np.float64),
        "mean_prediction_entropy_natural": h_p,
        "mean_reference_entropy_natural": h_q,
        "hp": hp_c,
        "hq": hq_c,
        "hp2": hp_c * hp_c,
        "hq2": hq_c * hq_c,
        "hphq": hp_c * hq_c,
    }
    return {
        "columns": columns,
        "pred": pred,
        "true": true,
        # ECE bins (b/n_bins, (b+1)/n_bins], the first bin also holds 0
        "bin": np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1),
        "ece_gap": correct - conf,
        "ece_soft_gap": np.take_along_axis(qt, pred[None, :], axis=0)[0] - conf,
        "q": q_c,
        "q2": q_c * q_c,
        "se": (qt - pt) ** 2,
    }


class _Items:
    """Per-item quantities, from which every statistic is a function of (weighted) sums over items."""

    def __init__(self, p: np.ndarray, q: np.ndarray, *, kl_epsilon: float, tie_atol: float, n_bins: int):
        n, k = p.shape
        self.n_classes = k
        self.n_bins = n_bins
        head = slice(0, min(n, 4096))  # shifts for conditioning: means of the first rows
        shifts = {"hp": float(shannon_entropy(p[head]).mean()), "hq": float(shannon_entropy(q[head]).mean()),
                  "q": q[head].mean(axis=0)}
        starts = range(0, n, _CHUNK)

        def block(s: int) -> dict[str, Any]:
            return _item_block(p[s : s + _CHUNK], q[s : s + _CHUNK], kl_epsilon, tie_atol, n_bins, shifts)

        if len(starts) > 1 and _THREADS > 1:  # numpy releases the GIL inside its loops: blocks run in parallel
            with ThreadPoolExecutor(max_workers=min(_THREADS, len(starts))) as pool:
                blocks = list(pool.map(block, starts))
        else:
            blocks = [block(s) for s in starts]
        #: scalar columns: name -> (n,)
        self.columns = {"one": np.ones(n)}
        self.columns.update({c: np.concatenate([b["columns"][c] for b in blocks]) for c in blocks[0]["columns"]})
        self.pred_class = np.concatenate([b["pred"] for b in blocks])
        self.true_class = np.concatenate([b["true"] for b in blocks])
        self.bin = np.concatenate([b["bin"] for b in blocks])
        self.ece_gap = np.concatenate([b["ece_gap"] for b in blocks])
        self.ece_soft_gap = np.concatenate([b["ece_soft_gap"] for b in blocks])
        #: class-major (k, n) quantities for R² (contiguous per class: fast slice sums)
        self.mats = {key: np.concatenate([b[key] for b in blocks], axis=1) for key in ("q", "q2", "se")}


class _ItemsView:
    """The items ``idx`` of an ``_Items`` (one ambiguity level), or all of them (``idx=None``)."""

    def __init__(self, items: _Items, idx: np.ndarray | None = None):
        self.items = items
        self.idx = idx

    @property
    def n(self) -> int:
        return len(self.items.true_class) if self.idx is None else len(self.idx)

    def _take(self, x: np.ndarray) -> np.ndarray:
        """Per-item values along the last axis (1-D columns and class-major matrices)."""
        return x if self.idx is None else x[..., self.idx]

    def sums(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Weighted sums of every per-item quantity, one row per resample: ``weights`` is ``(B, n)`` (the
        unweighted point estimates come from ``_group_sums``)."""
        it = self.items
        k, nb = it.n_classes, it.n_bins
        t, pc, b = self._take(it.true_class), self._take(it.pred_class), self._take(it.bin)
        gap, sgap = self._take(it.ece_gap), self._take(it.ece_soft_gap)
        out: dict[str, np.ndarray] = {}
        names = list(it.columns)
        s = weights @ np.stack([self._take(it.columns[c]) for c in names], axis=1)
        for j, c in enumerate(names):
            out[c] = s[:, j]
        eye_k, eye_b = np.eye(k), np.eye(nb)
        out["true_count"] = weights @ eye_k[t]
        out["pred_count"] = weights @ eye_k[pc]
        out["tp"] = weights @ (eye_k[t] * (t == pc)[:, None])
        out["ece"] = weights @ (eye_b[b] * gap[:, None])
        out["ece_soft"] = weights @ (eye_b[b] * sgap[:, None])
        for key, m in it.mats.items():
            out[key] = weights @ self._take(m).T
        return out


def _group_sums(items: _Items, codes: np.ndarray, n_groups: int) -> dict[str, np.ndarray]:
    """Sums of every per-item quantity per group (``codes`` in ``0 .. n_groups-1``), leading axis = group."""
    k, nb, g = items.n_classes, items.n_bins, n_groups
    out = {c: np.bincount(codes, weights=v, minlength=g) for c, v in items.columns.items()}
    t, pc = items.true_class, items.pred_class
    out["true_count"] = np.bincount(codes * k + t, minlength=g * k).reshape(g, k).astype(np.float64)
    out["pred_count"] = np.bincount(codes * k + pc, minlength=g * k).reshape(g, k).astype(np.float64)
    hit = t == pc
    out["tp"] = np.bincount(codes[hit] * k + t[hit], minlength=g * k).reshape(g, k).astype(np.float64)
    cells = codes * nb + items.bin
    out["ece"] = np.bincount(cells, weights=items.ece_gap, minlength=g * nb).reshape(g, nb)
    out["ece_soft"] = np.bincount(cells, weights=items.ece_soft_gap, minlength=g * nb).reshape(g, nb)
    for key, m in items.mats.items():  # class-major rows are contiguous: one fast bincount per class
        out[key] = np.stack([np.bincount(codes, weights=m[j], minlength=g) for j in range(k)], axis=1)
    return out


def _finalize(s: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Statistics (each ``(B,)``) from the weighted sums of ``_ItemsView.sums`` (empty groups give NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _finalize_unchecked(s)


def _finalize_unchecked(s: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    n = s["one"]
    res: dict[str, np.ndarray] = {}
    for name in ("js_divergence_base2", "js_distance_natural", "bhattacharyya_coefficient", "kl_divergence_natural",
                 "total_variation_distance", "cosine_similarity", "top1_agreement", "argmax_accuracy"):
        res[name] = s[name] / n
    # F1 of the argmax labels, as sklearn's f1_score: labels = classes present in y_true or y_pred
    tp, tc, pcnt = s["tp"], s["true_count"], s["pred_count"]
    denom = tc + pcnt  # = 2tp + fp + fn
    present = denom > 0
    f1 = np.where(present, 2.0 * tp / np.where(present, denom, 1.0), 0.0)
    res["f1_macro"] = f1.sum(axis=1) / present.sum(axis=1)
    res["f1_weighted"] = (f1 * tc).sum(axis=1) / tc.sum(axis=1)
    # R² as sklearn's r2_score(references, predictions) (multioutput="uniform_average", force_finite=True)
    ss_tot = s["q2"] - s["q"] ** 2 / n[:, None]
    ss_tot = np.where(np.abs(ss_tot) <= 1e-15 * np.maximum(s["q2"], 1e-300), 0.0, ss_tot)
    ss_res = s["se"]
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), np.where(ss_res > 0, 0.0, 1.0))
    res["r2_uniform_average"] = r2.mean(axis=1)
    res["ece_10bin_argmax"] = np.abs(s["ece"]).sum(axis=1) / n
    res["ece_10bin_soft"] = np.abs(s["ece_soft"]).sum(axis=1) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        res["spearman_per_item"] = s["spearman_sum"] / s["spearman_defined"]
        mp, mq = s["hp"] / n, s["hq"] / n
        cov = s["hphq"] / n - mp * mq
        vp = s["hp2"] / n - mp * mp
        vq = s["hq2"] / n - mq * mq
        den = np.sqrt(np.maximum(vp, 0.0) * np.maximum(vq, 0.0))
        res["entropy_pearson_r"] = np.where(den > 0, cov / np.where(den > 0, den, 1.0), np.nan)
    res["mean_prediction_entropy_natural"] = s["mean_prediction_entropy_natural"] / n
    res["mean_reference_entropy_natural"] = s["mean_reference_entropy_natural"] / n
    return {name: res[name] for name in STATISTIC_NAMES}


def _points(sums: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Point estimates per group (leading axis of every sum), in group order."""
    n_groups = sums["one"].shape[0]
    stats = _finalize(sums)
    out = []
    for j in range(n_groups):
        n = int(round(sums["one"][j]))
        row: dict[str, Any] = {"n_items": n}
        row.update({name: _float(v[j]) for name, v in stats.items()})
        row["spearman_undefined_items"] = int(round(n - sums["spearman_defined"][j]))
        out.append(row)
    return out


def _float(x: float) -> float | None:
    x = float(x)
    return None if np.isnan(x) else x


def _bootstrap(view: _ItemsView, n_bootstrap: int, rng: np.random.Generator, ci: float,
               max_cells: int = 20_000_000) -> dict[str, list[float | None]]:
    """Percentile CIs from ``n_bootstrap`` resamples of the view's items (with replacement, same size)."""
    n = view.n
    chunk = max(1, min(n_bootstrap, max_cells // max(n, 1)))
    parts: list[dict[str, np.ndarray]] = []
    done = 0
    while done < n_bootstrap:
        b = min(chunk, n_bootstrap - done)
        idx = rng.integers(0, n, size=(b, n))
        counts = np.bincount((idx + (np.arange(b) * n)[:, None]).ravel(), minlength=b * n).reshape(b, n)
        parts.append(_finalize(view.sums(counts.astype(np.float64))))
        done += b
    lo_q, hi_q = 100 * (1 - ci) / 2, 100 * (1 + ci) / 2
    out: dict[str, list[float | None]] = {}
    for name in STATISTIC_NAMES:
        vals = np.concatenate([p[name] for p in parts])
        vals = vals[~np.isnan(vals)]
        if vals.size == 0:
            out[name] = [None, None]
        else:
            lo, hi = np.percentile(vals, [lo_q, hi_q])
            out[name] = [float(lo), float(hi)]
    return out


def alignment_statistics(predictions: Any, references: Any, ambiguity: Any = None, *, n_bootstrap: int = 0,
                         seed: int = 0, renormalize: bool = False, atol: float = DIST_ATOL,
                         levels: Sequence[str] = AMBIGUITY_LEVELS, kl_epsilon: float = KL_EPSILON,
                         tie_atol: float = TIE_ATOL, ci: float = 0.95) -> dict[str, Any]:
    """Every alignment statistic of ``predictions`` against ``references``, overall and per ambiguity level.

    Args:
        predictions, references: ``(n_items, n_classes)`` probability vectors in the same class order
            (references = human distributions). Validated (see ``as_distribution_pair``).
        ambiguity: optional ``(n_items,)`` level per item, each one of ``levels``; adds ``per_level``.
        n_bootstrap: resamples for percentile confidence intervals (0 = none). Items are resampled with
            replacement (overall: all items; per level: within the level), seeded by ``seed``.
        renormalize: treat rows as counts and divide by their totals instead of requiring sums of 1.
        atol: tolerance of "sums to 1".
        kl_epsilon, tie_atol: see ``kl_divergence`` and ``top1_agreement``.
        ci: confidence level of the intervals.

    Returns a JSON-ready dict:
        ``overall``: ``{"n_items", <every name in STATISTIC_NAMES>, "spearman_undefined_items"}``;
        ``per_level``: ``{level: same}`` for the levels present (``{}`` without ``ambiguity``);
        ``confidence_intervals``: ``{"overall": {stat: [low, high]}, "per_level": {level: {...}}}`` or None;
        ``settings``: the options used.

    Definitions (means over items unless said otherwise): ``js_divergence_base2`` (bits, [0, 1]);
    ``js_distance_natural`` (sqrt of JSD in nats = scipy ``jensenshannon``); ``bhattacharyya_coefficient``;
    ``kl_divergence_natural`` = KL(reference ‖ prediction) with ``kl_epsilon`` smoothing; ``total_variation_distance``;
    ``cosine_similarity``; ``top1_agreement`` (tie-aware, see ``top1_agreement``); ``argmax_accuracy`` (first
    maximal index on both sides); ``f1_macro`` / ``f1_weighted`` = sklearn ``f1_score`` of argmax labels (labels
    present in either side); ``r2_uniform_average`` = sklearn ``r2_score(references, predictions)``: R² per class
    column over items, averaged uniformly over classes; ``ece_10bin_argmax``: 10 equal-width bins of the predicted
    top probability, correctness = prediction argmax equals reference argmax, ECE = Σ_b n_b/n |acc_b − conf_b|;
    ``ece_10bin_soft``: same with correctness = the reference probability of the predicted class;
    ``spearman_per_item``: mean over items of the rank correlation across classes (constant rows skipped and
    counted in ``spearman_undefined_items``); ``entropy_pearson_r``: Pearson r over items between prediction and
    reference entropies; ``mean_prediction_entropy_natural`` / ``mean_reference_entropy_natural``: Shannon
    entropy in nats. Undefined values (e.g. a correlation on one item) are None.

    >>> r = alignment_statistics([[0.9, 0.1], [0.2, 0.8]], [[1.0, 0.0], [0.5, 0.5]], ["low", "high"])
    >>> r["per_level"]["low"]["argmax_accuracy"], r["overall"]["n_items"]
    (1.0, 2)
    """
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be between 0 and 1, got {ci}")
    p, q = as_distribution_pair(predictions, references, renormalize=renormalize, atol=atol)
    per_level: dict[str, dict[str, Any]] = {}
    per_level_views: dict[str, _ItemsView] = {}
    items = _Items(p, q, kl_epsilon=kl_epsilon, tie_atol=tie_atol, n_bins=ECE_BINS)
    overall_view = _ItemsView(items)
    if ambiguity is None:
        overall = _points(_group_sums(items, np.zeros(p.shape[0], dtype=np.int64), 1))[0]
    else:
        codes = _ambiguity_codes(ambiguity, p.shape[0], levels)
        level_sums = _group_sums(items, codes, len(levels))
        overall = _points({key: v.sum(axis=0, keepdims=True) for key, v in level_sums.items()})[0]
        for j, (level, block) in enumerate(zip(levels, _points(level_sums))):
            if block["n_items"]:
                per_level[level] = block
                if n_bootstrap:
                    per_level_views[level] = _ItemsView(items, np.flatnonzero(codes == j))
    result: dict[str, Any] = {
        "overall": overall,
        "per_level": per_level,
        "confidence_intervals": None,
        "settings": {"n_bootstrap": n_bootstrap, "seed": seed, "ci": ci, "ci_method": "percentile bootstrap",
                     "renormalize": renormalize, "atol": atol, "kl_epsilon": kl_epsilon, "tie_atol": tie_atol,
                     "ece_bins": ECE_BINS, "n_classes": p.shape[1]},
    }
    if n_bootstrap:
        rng = np.random.default_rng(seed)
        result["confidence_intervals"] = {
            "overall": _bootstrap(overall_view, n_bootstrap, rng, ci),
            "per_level": {lvl: _bootstrap(v, n_bootstrap, rng, ci) for lvl, v in per_level_views.items()},
        }
    return result
