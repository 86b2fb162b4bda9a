"""Dataset-level alignment of emotion distributions: every statistic overall and per ambiguity level, with
percentile bootstrap confidence intervals, from one fused pass over the items.

``predictions`` and ``references`` are ``(n_items, n_classes)`` arrays of probability vectors in the same class
order (``references`` = the human distributions, ``predictions`` = synthetic, merged or model distributions). The
per-item quantities come from the kernels of :mod:`hf_ambiguity.analysis.divergences` (each formula once); every
dataset-level statistic is a function of weighted sums of them, so a bootstrap resample is a weighted sum.

>>> p = np.array([[0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
>>> q = np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
>>> stats = alignment_statistics(p, q)
>>> stats["overall"]["js_divergence_base2"], stats["overall"]["bhattacharyya_coefficient"]
(0.5, 0.5)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping

import numpy as np

from hf_ambiguity.analysis.divergences import (
    KL_EPSILON, TIE_ATOL, ambiguity_codes, as_distribution_pair, bhattacharyya_cm, cosine_cm, entropy_cm,
    jsd_natural_cm, kl_cm, shannon_entropy, spearman_cm, top1_cm, tvd_cm,
)
from hf_ambiguity.distributions import DIST_ATOL
from hf_ambiguity.schema import AMBIGUITY_LEVELS

__all__ = ["alignment_statistics", "summarise_alignment", "STATISTIC_NAMES", "ECE_BINS", "ARGMAX_TIES",
           "argmax_tie_order"]

#: Number of equal-width confidence bins of the expected calibration error.
ECE_BINS = 10

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


#: How an arg-max tie (accuracy, F1, ECE) is broken: ``class_order`` (default, the first class in the dataset's
#: class order) or ``alphabetical`` (the first class by name: the reference's class lists are alphabetical and it
#: takes ``np.argmax`` over them).
ARGMAX_TIES = ("class_order", "alphabetical")


def argmax_tie_order(class_names: Sequence[str], ties: str = "class_order") -> tuple[int, ...]:
    """Class indices in the order that wins an arg-max tie (for ``alignment_statistics(tie_order=...)``).

    The reference's class lists are sorted by name (IEMOCAP ``Anger, Happiness, Neutral state, Sadness``; MSP-Podcast
    ``Angry, Happy, Neutral, Sad``), and ``np.argmax`` takes the first maximum, so a tie goes to the class whose
    name sorts first; ``alphabetical`` reproduces that for a class set whose names sort like the reference's (the
    four-class sets ``angry, happy, neutral, sad`` do).

    >>> argmax_tie_order(["neutral", "happy", "angry", "sad"], "alphabetical")
    (2, 1, 0, 3)
    >>> argmax_tie_order(["neutral", "happy"])
    (0, 1)
    """
    if ties not in ARGMAX_TIES:
        raise ValueError(f"argmax_ties must be one of {list(ARGMAX_TIES)}, got {ties!r}")
    names = list(class_names)
    if ties == "class_order":
        return tuple(range(len(names)))
    return tuple(sorted(range(len(names)), key=lambda j: names[j]))


def _check_tie_order(tie_order: Sequence[int] | None, k: int) -> tuple[int, ...]:
    if tie_order is None:
        return tuple(range(k))
    order = tuple(int(j) for j in tie_order)
    if sorted(order) != list(range(k)):
        raise ValueError(f"tie_order must list every class index 0..{k - 1} once, got {list(tie_order)}")
    return order


# --------------------------------------------------------------------------------------------------------------
# dataset-level statistics from weighted sums (point estimate: weights = 1; bootstrap: resample counts)


_CHUNK = 1 << 15  # items per block: class-major blocks stay in cache
_THREADS = min(8, os.cpu_count() or 1)  # worker threads over blocks (results do not depend on it)


def _item_block(p: np.ndarray, q: np.ndarray, kl_epsilon: float, tie_atol: float, n_bins: int,
                shifts: dict[str, Any], tie_order: tuple[int, ...]) -> dict[str, Any]:
    """Per-item quantities of one block of rows, computed on class-major ``(n_classes, n)`` copies
    (reductions over classes are then adds of contiguous vectors, several times faster than short-row sums).

    ``shifts`` are constants subtracted from the entropies and reference columns before their squares are summed:
    the statistics built on them are shift-invariant, and a shift near the mean keeps the sums well conditioned.
    """
    k = p.shape[1]
    pt, qt = np.ascontiguousarray(p.T), np.ascontiguousarray(q.T)
    h_p, h_q = entropy_cm(pt), entropy_cm(qt)
    jsd = jsd_natural_cm(pt, qt, h_p, h_q)
    pq = pt * qt
    p_max, q_max = pt.max(axis=0), qt.max(axis=0)
    pred = np.zeros(pt.shape[1], dtype=np.int64)
    true = np.zeros(pt.shape[1], dtype=np.int64)
    for j in reversed(tie_order):  # the maximal class first in tie_order (class order: as np.argmax), vectorised
        pred[pt[j] == p_max] = j
        true[qt[j] == q_max] = j
    conf = p_max
    correct = (pred == true).astype(np.float64)
    spear = spearman_cm(pt, qt)
    defined = ~np.isnan(spear)
    hp_c, hq_c = h_p - shifts["hp"], h_q - shifts["hq"]
    q_c = qt - shifts["q"][:, None]
    columns = {
        "js_divergence_base2": jsd / np.log(2.0),
        "js_distance_natural": np.sqrt(jsd),
        "bhattacharyya_coefficient": bhattacharyya_cm(pt, qt, pq),
        "kl_divergence_natural": kl_cm(qt, pt, kl_epsilon),
        "total_variation_distance": tvd_cm(pt, qt),
        "cosine_similarity": cosine_cm(pt, qt, pq),
        "top1_agreement": top1_cm(pt, qt, tie_atol),
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

    def __init__(self, p: np.ndarray, q: np.ndarray, *, kl_epsilon: float, tie_atol: float, n_bins: int,
                 tie_order: tuple[int, ...]):
        n, k = p.shape
        self.n_classes = k
        self.n_bins = n_bins
        head = slice(0, min(n, 4096))  # shifts for conditioning: means of the first rows
        shifts = {"hp": float(shannon_entropy(p[head]).mean()), "hq": float(shannon_entropy(q[head]).mean()),
                  "q": q[head].mean(axis=0)}
        starts = range(0, n, _CHUNK)

        def block(s: int) -> dict[str, Any]:
            return _item_block(p[s : s + _CHUNK], q[s : s + _CHUNK], kl_epsilon, tie_atol, n_bins, shifts, tie_order)

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
                         tie_atol: float = TIE_ATOL, ci: float = 0.95,
                         tie_order: Sequence[int] | None = None) -> dict[str, Any]:
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
        tie_order: class indices in the order that wins an arg-max tie in ``argmax_accuracy``, ``f1_*`` and
            ``ece_*`` (default: class order, as ``np.argmax``); :func:`argmax_tie_order` gives the reference's
            (``alphabetical``). ``top1_agreement`` is tie-aware and does not depend on it.

    Returns a JSON-ready dict:
        ``overall``: ``{"n_items", <every name in STATISTIC_NAMES>, "spearman_undefined_items"}``;
        ``per_level``: ``{level: same}`` for the levels present (``{}`` without ``ambiguity``);
        ``confidence_intervals``: ``{"overall": {stat: [low, high]}, "per_level": {level: {...}}}`` or None;
        ``settings``: the options used.

    Definitions (means over items unless said otherwise): ``js_divergence_base2`` (bits, [0, 1]);
    ``js_distance_natural`` (sqrt of JSD in nats = scipy ``jensenshannon``); ``bhattacharyya_coefficient``;
    ``kl_divergence_natural`` = KL(reference ‖ prediction) with ``kl_epsilon`` smoothing; ``total_variation_distance``;
    ``cosine_similarity``; ``top1_agreement`` (tie-aware, see ``top1_agreement``); ``argmax_accuracy`` (the
    maximal class first in ``tie_order`` on both sides); ``f1_macro`` / ``f1_weighted`` = sklearn ``f1_score``
    of argmax labels (labels present in either side); ``r2_uniform_average`` = sklearn
    ``r2_score(references, predictions)``: R² per class column over items, averaged uniformly over classes;
    ``ece_10bin_argmax``: 10 equal-width bins of the predicted top probability, correctness = prediction argmax
    equals reference argmax, ECE = Σ_b n_b/n |acc_b − conf_b|;
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
    order = _check_tie_order(tie_order, p.shape[1])
    per_level: dict[str, dict[str, Any]] = {}
    per_level_views: dict[str, _ItemsView] = {}
    items = _Items(p, q, kl_epsilon=kl_epsilon, tie_atol=tie_atol, n_bins=ECE_BINS, tie_order=order)
    overall_view = _ItemsView(items)
    if ambiguity is None:
        overall = _points(_group_sums(items, np.zeros(p.shape[0], dtype=np.int64), 1))[0]
    else:
        codes = ambiguity_codes(ambiguity, p.shape[0], levels)
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
                     "ece_bins": ECE_BINS, "n_classes": p.shape[1], "tie_order": list(order)},
    }
    if n_bootstrap:
        rng = np.random.default_rng(seed)
        result["confidence_intervals"] = {
            "overall": _bootstrap(overall_view, n_bootstrap, rng, ci),
            "per_level": {lvl: _bootstrap(v, n_bootstrap, rng, ci) for lvl, v in per_level_views.items()},
        }
    return result


#: The statistics a report shows by level, by their short names.
REPORTED_STATISTICS = {"js_divergence": "js_divergence_base2", "js_distance": "js_distance_natural",
         "bhattacharyya": "bhattacharyya_coefficient"}


def summarise_alignment(stats: Mapping[str, Any]) -> dict[str, Any]:
    """``alignment_statistics`` output → the report's ``{"overall", "by_level"}`` with mean and CI per metric."""
    cis = stats.get("confidence_intervals") or {}

    def one(point: Mapping[str, Any], ci: Mapping[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {"n": point.get("n_items")}
        for short, name in REPORTED_STATISTICS.items():
            lo, hi = (ci or {}).get(name, (None, None)) or (None, None)
            out[short] = {"mean": point.get(name), "ci_low": lo, "ci_high": hi}
        return out

    return {
        "overall": one(stats["overall"], cis.get("overall")),
        "by_level": {lv: one(pt, (cis.get("per_level") or {}).get(lv)) for lv, pt in stats["per_level"].items()},
    }
