"""Do synthetic (ALM) labels help predict what a *new human* rater will say? A held-out-annotator test.

The question: given an item's human labels and a synthetic distribution for it, is the human labels merged with the
synthetic distribution a better forecast of another human rater's label than the human labels alone, smoothed as
well as possible without any ALM? Per item (only items with >= 2 human labels; others are skipped and counted):

- **Design** ``"leave_one_out"``: each human label in turn is held out; the remaining labels ``r`` (``m`` of them)
  make the forecasts; the held-out label is the outcome. Human labels are independent draws given the item, so the
  held-out label is a fresh draw that neither forecast has seen. ``"split_half"`` (items with >= 4 raters, e.g.
  MSP-Podcast): the labels are split at random (seeded; independent of annotator order) into two disjoint halves;
  one half makes the forecasts and the other half's labels are the outcomes (expected score over them), then the
  roles swap.
- **Baseline** (ALM-free): ``(r + beta * pi) / (m + beta)``: the remaining labels shrunk toward ``pi`` by a
  pseudo-count ``beta``. ``pi`` is the class frequency of the human labels (``smoothing_target="marginal"``,
  default, add-one smoothed) or uniform (``"uniform"``).
- **Candidate**: the remaining labels merged with the synthetic distribution ``s``, with its own pseudo-count:
  ``concat``: ``(r + w * s + beta' * pi) / (m + w + beta')`` with ``w = synthetic_weight`` votes (the reference
  concatenation of ``w`` synthetic labels); ``weighted``: the same with ``w`` fitted too (``w = 0`` is the baseline
  itself, so this asks whether *any* weight on the synthetic distribution helps); ``adaptive``: the per-item weight
  ``w_i = a0 * (1 - rho * H_i)`` of :func:`hf_ambiguity.annotate.merge.fit_adaptive_merge` (fitted by its own
  held-out likelihood), its uniform smoothing replaced by ``beta'``. (That weight depends on the entropy of the
  remaining labels, so with a nearly flat synthetic distribution it also acts as an entropy-dependent pseudo-count,
  which the baseline's one pseudo-count per stratum cannot match exactly: a small effect either way.)
- **Nothing is fitted on the items it scores** (cross-fitting): items are split at random into ``n_folds`` folds;
  every pseudo-count, weight and adaptive parameter used on a fold, and ``pi``, is fitted on the other folds only,
  by minimising the same proper score. Baseline and candidate pseudo-counts are both fitted per stratum, so the
  comparison isolates what the synthetic distribution adds beyond the best stratum-specific smoothing (a merge
  whose own smoothing happens to suit a stratum better is not credited to the ALM).
- **Scores**: Brier score and log-loss (:mod:`hf_ambiguity.analysis.scoring_rules`), both strictly proper; both are
  reported, ``primary`` decides the verdict. Each score's forecasts are fitted for that score.
- **Strata** come from the labels that make the forecast, never from the outcome: ``"entropy"`` (default): entropy
  of the remaining labels divided by ``log(n_classes)``, fixed ``cuts`` (as :func:`hf_ambiguity.distributions.
  fixed_levels`); ``"reference"``: the reference ambiguity definition (entropy / log(#distinct labels present),
  :func:`~hf_ambiguity.distributions.reference_label_entropy`) of the remaining labels, equal terciles over all
  (item, held-out label) pairs (ties together; the cut points therefore depend on every item's remaining labels,
  though never on a held-out one); ``"none"``: one stratum ``"all"``. Each (item, held-out label)
  pair weighs ``1 / n_i`` (every item weighs 1 in total); a stratum's value is the weighted mean over its pairs, so
  the strata add up to the overall mean, and each stratum's fit minimises exactly its share of the overall score.
- **Inference** on the mean score difference ``candidate - baseline`` (negative: the synthetic distribution
  helps), items (all their pairs together) as the resampling unit: percentile bootstrap CI of the mean, two-sided
  sign-flip permutation test of the mean and Wilcoxon signed-rank test of the items' contributions, p-values
  Holm-corrected across strata. Verdict: ``"helps"`` if the CI lies
  below 0, ``"hurts"`` if above, else ``"no detectable difference"`` (``"too few items"`` below ``min_items``). The
  overall CI is at level ``1 - alpha``; per-stratum CIs at ``1 - alpha / n_strata`` (Bonferroni), so that the
  verdicts of all strata hold together. With ``margin``: non-inferiority when the one-sided upper bound (same
  levels) is below ``margin`` (in units of the primary score). "No detectable difference" is never evidence of
  "not worse"; only the non-inferiority verdict is.

>>> rng = np.random.default_rng(0)
>>> truth = rng.dirichlet(np.full(4, 0.8), size=400)
>>> labels = [rng.choice(4, size=int(n), p=p).tolist() for p, n in zip(truth, rng.integers(3, 8, 400))]
>>> good = synthetic_benefit(labels, truth, 4, n_resamples=500)          # the true distribution
>>> good.overall.verdict, good.overall.mean_difference < 0
('helps', True)
>>> bad = synthetic_benefit(labels, rng.dirichlet(np.ones(4), 400), 4, merge="concat", synthetic_weight=8,
...                         n_resamples=500)                             # unrelated to the truth
>>> bad.overall.verdict
'hurts'
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Callable, Literal, Sequence

import numpy as np
from scipy import stats
from scipy.optimize import minimize_scalar

from hf_ambiguity.analysis.scoring_rules import SCORES
from hf_ambiguity.annotate.merge import AdaptiveMerge, fit_adaptive_merge
from hf_ambiguity.distributions import DIST_ATOL, normalized_entropy, raise_first_bad_row, tercile_levels
from hf_ambiguity.schema import AMBIGUITY_LEVELS

__all__ = ["synthetic_benefit", "SyntheticBenefitResult", "GroupResult", "ScoreComparison", "NonInferiority",
           "fit_merge", "MergeFit", "labels_to_votes", "MERGES", "DESIGNS", "STRATA", "SMOOTHING_TARGETS",
           "VERDICTS"]

Merge = Literal["concat", "weighted", "adaptive"]
Design = Literal["leave_one_out", "split_half"]
Strata = Literal["entropy", "reference", "none"]
ScoreName = Literal["brier", "log_loss"]
Target = Literal["marginal", "uniform"]

MERGES: tuple[str, ...] = ("concat", "weighted", "adaptive")
DESIGNS: tuple[str, ...] = ("leave_one_out", "split_half")
STRATA: tuple[str, ...] = ("entropy", "reference", "none")
SMOOTHING_TARGETS: tuple[str, ...] = ("marginal", "uniform")
HELPS, HURTS, NO_DIFFERENCE, TOO_FEW = "helps", "hurts", "no detectable difference", "too few items"
VERDICTS: tuple[str, ...] = (HELPS, HURTS, NO_DIFFERENCE, TOO_FEW)
NON_INFERIOR, NOT_SHOWN = "non-inferior", "non-inferiority not shown"

#: Search range of the synthetic weight and pseudo-count of the weighted family (in votes); a lone pseudo-count
#: (baseline, concat, adaptive) is searched up to ``2 * _HI``, so that every total the weighted family can reach is
#: also open to the baseline (with a synthetic distribution equal to the target the two families then coincide).
_LO, _HI = 1e-4, 1e5
#: A fitted synthetic weight > 0 replaces weight 0 (= the baseline) only if it lowers the training score by more than
#: this fraction: below it the difference is optimiser noise, and keeping the baseline makes a synthetic distribution
#: that carries nothing beyond the smoothing target give exactly the baseline's forecasts.
_RTOL_IMPROVEMENT = 1e-7
#: Bootstrap / permutation matrices are built in chunks of about this many entries.
_CHUNK_ENTRIES = 8_000_000


# ----------------------------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NonInferiority:
    """Non-inferiority of the candidate: the one-sided upper confidence bound of ``candidate - baseline`` (primary
    score) at ``confidence_level`` is below ``margin``."""

    margin: float
    upper_bound: float | None
    confidence_level: float
    verdict: str  # "non-inferior" | "non-inferiority not shown"


@dataclass(frozen=True)
class ScoreComparison:
    """Candidate vs baseline under one proper score, on one group of items (item-level means).

    ``mean_difference`` = ``mean_candidate - mean_baseline`` (negative: the candidate forecasts new human labels
    better); ``confidence_interval``: percentile bootstrap at ``confidence_level``; p-values two-sided, the ``_holm``
    ones corrected across strata (``None`` for the overall group, a family of one). ``oracle_difference`` (only
    with ``true_distributions``, i.e. in simulations): the same mean with every outcome replaced by its expectation
    under the item's true distribution: the value the test estimates.
    """

    score: str
    mean_baseline: float | None
    mean_candidate: float | None
    mean_difference: float | None
    confidence_interval: tuple[float, float] | None
    confidence_level: float
    wilcoxon_pvalue: float | None
    permutation_pvalue: float | None
    wilcoxon_pvalue_holm: float | None
    permutation_pvalue_holm: float | None
    verdict: str
    non_inferiority: NonInferiority | None
    oracle_difference: float | None = None


@dataclass(frozen=True)
class GroupResult:
    """One group (all items, or one stratum). The top-level fields repeat the primary score's comparison."""

    n_items: int
    n_pairs: int
    verdict: str
    mean_difference: float | None
    confidence_interval: tuple[float, float] | None
    confidence_level: float
    wilcoxon_pvalue: float | None
    permutation_pvalue: float | None
    wilcoxon_pvalue_holm: float | None
    permutation_pvalue_holm: float | None
    non_inferiority: NonInferiority | None
    scores: dict[str, ScoreComparison]


@dataclass(frozen=True)
class SyntheticBenefitResult:
    """Result of :func:`synthetic_benefit`: ``overall``, ``per_stratum[level]``, ``settings`` (every option and the
    item counts) and ``fits`` (the parameters fitted for each fold, stratum and score, with the rows they used)."""

    overall: GroupResult
    per_stratum: dict[str, GroupResult]
    settings: dict[str, Any]
    fits: tuple[dict[str, Any], ...] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe plain dictionary (tuples → lists, NaN / infinity → ``None``)."""
        return _json_safe(dataclasses.asdict(self))

    def summary(self) -> str:
        """One line per group: verdict, mean difference and CI of the primary score."""
        primary = self.settings["primary"]
        lines = []
        for name, g in [("overall", self.overall), *self.per_stratum.items()]:
            if g.mean_difference is None:
                lines.append(f"{name}: {g.verdict} ({g.n_items} items)")
                continue
            ci = "" if g.confidence_interval is None else (
                f", {100 * g.confidence_level:g}% CI [{g.confidence_interval[0]:+.4f}, "
                f"{g.confidence_interval[1]:+.4f}]")
            ni = "" if g.non_inferiority is None else f"; {g.non_inferiority.verdict} (margin " \
                                                      f"{g.non_inferiority.margin:g})"
            lines.append(f"{name}: {g.verdict}: {primary} difference {g.mean_difference:+.4f}{ci}, "
                         f"{g.n_items} items{ni}")
        return "\n".join(lines)


def _json_safe(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.ndarray):
        return _json_safe(x.tolist())
    return x


# ----------------------------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------------------------


def _one_blas_thread() -> Any:
    """A context with BLAS limited to one thread: the fits solve many tiny problems (scipy's L-BFGS-B inside
    ``fit_adaptive_merge``, 2x2 Newton steps), where BLAS threading only costs time (2x on 2 shared cores)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _check_n_classes(n_classes: Any) -> int:
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    return int(n_classes)


def _parse_labels(human_labels: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Ragged per-item class indices → ``(flat, lengths)`` (``flat``: int64 labels item after item)."""
    if isinstance(human_labels, np.ndarray) and human_labels.ndim == 2:
        arr = human_labels
        lengths = np.full(arr.shape[0], arr.shape[1], dtype=np.int64)
        flat_raw = arr.reshape(-1)
    else:
        rows = list(human_labels)
        try:
            lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        except TypeError:
            i = next(i for i, r in enumerate(rows) if not hasattr(r, "__len__") or isinstance(r, (str, bytes)))
            raise ValueError(f"human_labels row {i} must be a list of class indices, got {rows[i]!r}") from None
        try:
            flat_raw = np.fromiter(chain.from_iterable(rows), dtype=np.float64, count=int(lengths.sum()))
        except (TypeError, ValueError):
            for i, r in enumerate(rows):
                for v in r:
                    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                        raise ValueError(f"human_labels row {i}: labels must be class indices (integers), "
                                         f"got {v!r}") from None
            raise
    if len(lengths) == 0:
        raise ValueError("human_labels is empty: at least one item is needed")
    flat_f = np.asarray(flat_raw, dtype=np.float64)
    bad = ~np.isfinite(flat_f) | (flat_f != np.round(flat_f)) | (flat_f < 0) | (flat_f >= n_classes)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        row = int(np.searchsorted(np.cumsum(lengths), pos, side="right"))
        v = flat_f[pos]
        why = ("is not a whole number (labels are class indices)" if np.isfinite(v) and v != np.round(v)
               else f"is not a class index in [0, {n_classes - 1}]")
        raise ValueError(f"human_labels row {row}: label {v:g} {why}")
    return flat_f.astype(np.int64), lengths


def labels_to_votes(human_labels: Any, n_classes: int) -> np.ndarray:
    """Whole-count votes ``(n_items, n_classes)`` from per-item class indices (rows may differ in length).

    >>> labels_to_votes([[0, 0, 2], [1]], 3)
    array([[2., 0., 1.],
           [0., 1., 0.]])
    """
    k = _check_n_classes(n_classes)
    flat, lengths = _parse_labels(human_labels, k)
    item = np.repeat(np.arange(len(lengths)), lengths)
    return np.bincount(item * k + flat, minlength=len(lengths) * k).reshape(len(lengths), k).astype(np.float64)


def _parse_synthetic(synthetic: Any, n_rows: int, n_classes: int, atol: float) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic distributions → ``(s, has)``; an all-zero (or empty / ``None``) row means "no synthetic
    distribution" (``has`` False). Other rows must be distributions; they are renormalised to sum exactly to 1."""
    if isinstance(synthetic, np.ndarray) and synthetic.ndim == 2:
        s = np.array(synthetic, dtype=np.float64, copy=True)  # rows are renormalised below: never the caller's array
        if s.shape[0] != n_rows:
            raise ValueError(f"synthetic has {s.shape[0]} rows but human_labels has {n_rows}: one synthetic "
                             "distribution per item, in the same order")
        if s.shape[1] != n_classes:
            raise ValueError(f"synthetic row 0 has {s.shape[1]} entries but n_classes is {n_classes}")
    else:
        rows = list(synthetic)
        if len(rows) != n_rows:
            raise ValueError(f"synthetic has {len(rows)} rows but human_labels has {n_rows}: one synthetic "
                             "distribution per item, in the same order")
        s = np.zeros((n_rows, n_classes))
        for i, r in enumerate(rows):
            if r is None or len(r) == 0:
                continue
            if len(r) != n_classes:
                raise ValueError(f"synthetic row {i} has {len(r)} entries but n_classes is {n_classes}")
            try:
                s[i] = r
            except (TypeError, ValueError):
                raise ValueError(f"synthetic row {i} must hold numbers, got {r!r}") from None
    tot = s.sum(axis=1)
    finite = np.isfinite(s).all(axis=1)
    raise_first_bad_row(s, (
        (~finite, "contains NaN or infinity"),
        (finite & (s < 0).any(axis=1), "has a negative entry"),
        (finite & (tot != 0) & (np.abs(tot - 1.0) > atol),
         f"does not sum to 1 (tolerance {atol}; an all-zero row means 'no synthetic distribution')"),
    ), name="synthetic")
    has = tot > 0
    s[has] = s[has] / tot[has, None]
    return s, has


# ----------------------------------------------------------------------------------------------------------------
# Scenarios: (forecast labels, outcome) pairs
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scenarios:
    """Each row: the labels a forecast is made from (``rest``, ``m`` of them), the outcome distribution
    (``target``: one-hot for a held-out label, the other half's labels for split-half), the item it belongs to and
    its weight within the item (an item's weights sum to 1: every held-out label / half counts equally)."""

    item: np.ndarray    # (S,)
    rest: np.ndarray    # (S, K)
    m: np.ndarray       # (S,)
    target: np.ndarray  # (S, K)
    weight: np.ndarray  # (S,)


def _loo_scenarios(h: np.ndarray) -> _Scenarios:
    """Leave-one-out over whole counts ``h`` (``(n, K)``, every row >= 2 labels). Holding out either of two labels of
    the same class gives the same forecast, so there is one row per class present, weighted by its count."""
    n = h.sum(axis=1)
    ii, cc = np.nonzero(h > 0)
    rest = h[ii].copy()
    rest[np.arange(len(ii)), cc] -= 1.0
    target = np.zeros_like(rest)
    target[np.arange(len(ii)), cc] = 1.0
    return _Scenarios(item=ii, rest=rest, m=n[ii] - 1.0, target=target, weight=h[ii, cc] / n[ii])


def _split_half_scenarios(flat: np.ndarray, lengths: np.ndarray, k: int, rng: np.random.Generator) -> _Scenarios:
    """Random disjoint halves per item (sizes floor(n/2), ceil(n/2)); both directions, weight 1/2 each. The labels
    are sorted within each item before the seeded shuffle, so the halves do not depend on annotator order."""
    n_items = len(lengths)
    item = np.repeat(np.arange(n_items), lengths)
    order = np.lexsort((flat, item))                 # sorted within item
    flat_sorted = flat[order]
    keys = rng.random(len(flat))                     # drawn in the sorted order: independent of annotator order
    perm = np.lexsort((keys, item))                  # random order within item
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    rank = np.arange(len(flat)) - starts[item]
    in_a = rank < (lengths // 2)[item]
    lab = flat_sorted[perm]
    a = np.bincount(item[in_a] * k + lab[in_a], minlength=n_items * k).reshape(n_items, k).astype(np.float64)
    b = np.bincount(item[~in_a] * k + lab[~in_a], minlength=n_items * k).reshape(n_items, k).astype(np.float64)
    na, nb = a.sum(axis=1), b.sum(axis=1)
    idx = np.arange(n_items)
    return _Scenarios(item=np.concatenate([idx, idx]), rest=np.concatenate([a, b]), m=np.concatenate([na, nb]),
                      target=np.concatenate([b / nb[:, None], a / na[:, None]]),
                      weight=np.full(2 * n_items, 0.5))


def _strata(sc: _Scenarios, strata: str, cuts: tuple[float, float], k: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Stratum code per scenario from its *forecast* labels only (never from the outcome)."""
    if strata == "none":
        return np.zeros(len(sc.m), dtype=np.int64), ("all",)
    p = sc.rest / sc.m[:, None]
    if strata == "entropy":
        e = normalized_entropy(p, n_classes=k)
        return np.where(e <= cuts[0], 0, np.where(e <= cuts[1], 1, 2)), AMBIGUITY_LEVELS
    distinct = (sc.rest > 0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        score = np.where(distinct > 1, h / np.log(np.maximum(distinct, 2)), 0.0)
    names = tercile_levels(score, ties="together")
    code = {lv: i for i, lv in enumerate(AMBIGUITY_LEVELS)}
    return np.fromiter((code[x] for x in names), dtype=np.int64, count=len(names)), AMBIGUITY_LEVELS


# ----------------------------------------------------------------------------------------------------------------
# Fitting the forecast families (q = (r + lam * s + beta * pi) / (m + lam + beta)) by a proper score
# ----------------------------------------------------------------------------------------------------------------


class _Training:
    """What fitting needs from a set of training scenarios (weights ``w``), for one smoothing target ``pi``.

    Brier: the mean score of ``q = (r + lam*s + beta*pi) / D``, ``D = m + lam + beta``, is
    ``sum_g [|a|^2 / D^2 - 2 a.t / D + 1]`` with ``a = r + lam*s + beta*pi``, expanded into weighted sums per
    distinct ``m`` (a handful of groups), so one evaluation costs O(#groups). Log-loss: per (scenario, class) entry
    with ``t > 0``: ``-t log(r_c + lam*s_c + beta*pi_c) + t log D``.
    """

    def __init__(self, rest: np.ndarray, m: np.ndarray, target: np.ndarray, syn: np.ndarray, w: np.ndarray,
                 pi: np.ndarray) -> None:
        self.pi = pi
        self.total = float(w.sum())
        mg, inv = np.unique(m, return_inverse=True)
        self.mg = mg
        ng = len(mg)

        def bc(x: np.ndarray) -> np.ndarray:
            return np.bincount(inv, weights=x, minlength=ng)

        def bcv(x: np.ndarray) -> np.ndarray:  # (S, K) → (G, K)
            return np.stack([bc(w * x[:, j]) for j in range(x.shape[1])], axis=1)

        self.sw = bc(w)
        self.srr = bc(w * (rest * rest).sum(axis=1))
        self.sss = bc(w * (syn * syn).sum(axis=1))
        self.srs = bc(w * (rest * syn).sum(axis=1))
        self.srt = bc(w * (rest * target).sum(axis=1))
        self.sst = bc(w * (syn * target).sum(axis=1))
        self.sst_all = bc(w * target.sum(axis=1))
        self.srpi = bcv(rest) @ pi
        self.sspi = bcv(syn) @ pi
        self.stpi = bcv(target) @ pi
        self.pipi = float(pi @ pi)
        # log-loss entries
        si, ci = np.nonzero(target > 0)
        self.ll_r = rest[si, ci]
        self.ll_s = syn[si, ci]
        self.ll_p = pi[ci]
        self.ll_a = w[si] * target[si, ci]
        self.ll_m = bc(w * target.sum(axis=1))  # weight of the log D term per group
        # lam = 0 entries compressed by (r_c, class) when r_c are whole counts (not for augmented counts)
        if np.array_equal(self.ll_r, np.round(self.ll_r)):
            key = self.ll_r.astype(np.int64) * len(pi) + ci
            uk, kinv = np.unique(key, return_inverse=True)
            self.ll0_a = np.bincount(kinv, weights=self.ll_a)
            self.ll0_r = (uk // len(pi)).astype(np.float64)
            self.ll0_p = pi[uk % len(pi)]
        else:
            self.ll0_a, self.ll0_r, self.ll0_p = self.ll_a, self.ll_r, self.ll_p

    # -- objectives (mean score per unit weight); lam, beta broadcast together
    def brier(self, lam: Any, beta: Any) -> np.ndarray:
        lam = np.asarray(lam, dtype=np.float64)[..., None]
        beta = np.asarray(beta, dtype=np.float64)[..., None]
        d = self.mg + lam + beta
        aa = (self.srr + lam * lam * self.sss + beta * beta * self.pipi * self.sw + 2.0 * lam * self.srs
              + 2.0 * beta * self.srpi + 2.0 * lam * beta * self.sspi)
        at = self.srt + lam * self.sst + beta * self.stpi
        return (aa / (d * d) - 2.0 * at / d + self.sst_all).sum(axis=-1) / self.total

    def log_loss(self, lam: float, beta: float) -> float:
        if lam == 0.0:
            first = -(self.ll0_a * np.log(self.ll0_r + beta * self.ll0_p)).sum()
        else:
            first = -(self.ll_a * np.log(self.ll_r + lam * self.ll_s + beta * self.ll_p)).sum()
        return float((first + (self.ll_m * np.log(self.mg + lam + beta)).sum()) / self.total)

    def log_loss_grid(self, lam: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """:meth:`log_loss` at many ``(lam, beta)`` pairs at once (``lam > 0``), in chunks."""
        out = np.empty(len(lam))
        step = max(1, _CHUNK_ENTRIES // max(len(self.ll_r), 1))
        for i in range(0, len(lam), step):
            la, be = lam[i:i + step, None], beta[i:i + step, None]
            first = -(self.ll_a * np.log(self.ll_r + la * self.ll_s + be * self.ll_p)).sum(axis=1)
            out[i:i + step] = first + (self.ll_m * np.log(self.mg + la + be)).sum(axis=1)
        return out / self.total

    def log_loss_newton_terms(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Value, gradient and Hessian of :meth:`log_loss` in ``theta = (log lam, log beta)``."""
        lam, beta = float(np.exp(theta[0])), float(np.exp(theta[1]))
        x = self.ll_r + lam * self.ll_s + beta * self.ll_p
        d = self.mg + lam + beta
        t = self.total
        val = (-(self.ll_a * np.log(x)).sum() + (self.ll_m * np.log(d)).sum()) / t
        c1 = (self.ll_m / d).sum()
        c2 = (self.ll_m / (d * d)).sum()
        a_x = self.ll_a / x
        a_xx = a_x / x
        g_l = (-(a_x * self.ll_s).sum() + c1) / t
        g_b = (-(a_x * self.ll_p).sum() + c1) / t
        h_ll = ((a_xx * self.ll_s * self.ll_s).sum() - c2) / t
        h_lb = ((a_xx * self.ll_s * self.ll_p).sum() - c2) / t
        h_bb = ((a_xx * self.ll_p * self.ll_p).sum() - c2) / t
        grad = np.array([lam * g_l, beta * g_b])
        hess = np.array([[lam * lam * h_ll + lam * g_l, lam * beta * h_lb],
                         [lam * beta * h_lb, beta * beta * h_bb + beta * g_b]])
        return float(val), grad, hess

    def objective(self, score: str) -> Callable[[float, float], float]:
        if score == "brier":
            return lambda lam, beta: float(self.brier(lam, beta))
        return self.log_loss


def _fit_beta(train: _Training, score: str, lam: float) -> tuple[float, float]:
    """Best pseudo-count ``beta`` for a fixed synthetic weight ``lam`` (grid on log scale, then Brent)."""
    f = train.objective(score)
    xs = np.linspace(np.log(_LO), np.log(2.0 * _HI), 61 if score == "brier" else 31)
    if score == "brier":
        vals = train.brier(np.full(len(xs), lam), np.exp(xs))
    else:
        vals = np.array([f(lam, float(np.exp(x))) for x in xs])
    i = int(np.argmin(vals))
    lo, hi = xs[max(i - 1, 0)], xs[min(i + 1, len(xs) - 1)]
    best_x, best_v = float(xs[i]), float(vals[i])
    if hi > lo:
        res = minimize_scalar(lambda x: f(lam, float(np.exp(x))), bounds=(lo, hi), method="bounded",
                              options={"xatol": 1e-9})
        if res.fun < best_v:
            best_x, best_v = float(res.x), float(res.fun)
    return float(np.exp(best_x)), best_v


def _zoom_grid_2d(f: Callable[[np.ndarray, np.ndarray], np.ndarray], lo: float, hi: float, *, n0: int = 41,
                  n_zoom: int = 11, zooms: int = 5) -> tuple[np.ndarray, float]:
    """Minimise a vectorised ``f(x, y)`` over ``[lo, hi]^2`` by a grid, then grids zoomed around the best point."""
    g = np.linspace(lo, hi, n0)
    xx, yy = np.meshgrid(g, g, indexing="ij")
    vals = f(xx.ravel(), yy.ravel())
    i = int(np.argmin(vals))
    best, best_v, step = np.array([xx.ravel()[i], yy.ravel()[i]]), float(vals[i]), g[1] - g[0]
    for _ in range(zooms):
        gx = np.clip(np.linspace(best[0] - step, best[0] + step, n_zoom), lo, hi)
        gy = np.clip(np.linspace(best[1] - step, best[1] + step, n_zoom), lo, hi)
        xx, yy = np.meshgrid(gx, gy, indexing="ij")
        vals = f(xx.ravel(), yy.ravel())
        i = int(np.argmin(vals))
        if vals[i] < best_v:
            best, best_v = np.array([xx.ravel()[i], yy.ravel()[i]]), float(vals[i])
        step = 2.0 * step / (n_zoom - 1)
    return best, best_v


def _newton_2d(value: Callable[[np.ndarray], float],
               terms: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]], x0: np.ndarray, lo: float,
               hi: float, *, max_iter: int = 50) -> tuple[np.ndarray, float]:
    """Damped, projected Newton in a box (Hessian eigenvalues made positive), backtracking on ``value``;
    ``terms`` (value, gradient, Hessian) only at accepted points."""
    x = np.clip(x0, lo, hi)
    v, g, hs = terms(x)
    for _ in range(max_iter):
        # variables held at a bound by the gradient stay there (projected Newton on the free ones)
        free = ~(((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0)))
        if not free.any():
            break
        step = np.zeros_like(x)
        hf, gf = hs[np.ix_(free, free)], g[free]
        if np.all(np.isfinite(hf)):
            # Newton with the Hessian's eigenvalues made positive (|e|, floored): a descent step on flat or
            # saddle-shaped parts too
            e, vec = np.linalg.eigh(hf)
            e = np.maximum(np.abs(e), 1e-10 * max(1.0, float(np.abs(e).max())))
            step[free] = -(vec @ ((vec.T @ gf) / e))
        else:
            step[free] = -gf
        norm = float(np.linalg.norm(step))
        if norm > 2.0:
            step *= 2.0 / norm
        t, xn, vn = 1.0, x, v
        for _ in range(40):
            xn = np.clip(x + t * step, lo, hi)
            vn = value(xn)
            if np.isfinite(vn) and vn <= v - 1e-4 * t * abs(float(g @ (xn - x))):
                break
            t *= 0.5
        else:
            break
        done = v - vn <= 1e-13 * max(1.0, abs(v))
        x = xn
        v, g, hs = terms(x)
        if done:
            break
    return x, float(v)


def _fit_lam_beta(train: _Training, score: str, base: tuple[float, float],
                  hint: tuple[float, float] | None = None) -> tuple[float, float, float]:
    """Best ``(lam, beta)`` of the weighted family; ``lam = 0`` (the baseline fit ``base`` = (beta, value)) unless
    a positive weight lowers the training score by more than ``_RTOL_IMPROVEMENT`` (relative). Log-loss: Newton
    from the best of a coarse grid and of ``hint`` (e.g. the Brier optimum)."""
    beta0, v0 = base
    lo, hi = np.log(_LO), np.log(_HI)
    if score == "brier":
        x, v = _zoom_grid_2d(lambda a, b: train.brier(np.exp(a), np.exp(b)), lo, hi)
    else:
        g = np.linspace(lo, hi, 5)
        aa, bb = np.meshgrid(g, g, indexing="ij")
        starts = np.stack([aa.ravel(), bb.ravel()], axis=1)
        if hint is not None and hint[0] > 0:
            starts = np.vstack([starts, np.log(np.clip(hint, _LO, _HI))])
        vals = train.log_loss_grid(np.exp(starts[:, 0]), np.exp(starts[:, 1]))
        x0 = starts[int(np.argmin(vals))]

        def value(th: np.ndarray) -> float:
            return train.log_loss(float(np.exp(th[0])), float(np.exp(th[1])))

        x, v = _newton_2d(value, train.log_loss_newton_terms, x0, lo, hi)
        if vals.min() < v:
            x, v = x0, float(vals.min())
    if not v < v0 - _RTOL_IMPROVEMENT * abs(v0):
        return 0.0, beta0, v0
    return float(np.exp(x[0])), float(np.exp(x[1])), float(v)


def _forecast(rest: np.ndarray, m: np.ndarray, syn: np.ndarray, lam: np.ndarray, beta: np.ndarray,
              pi: np.ndarray) -> np.ndarray:
    """``(r + lam*s + beta*pi) / (m + lam + beta)`` row-wise. The baseline is the same expression with ``lam = 0``
    (bit for bit, so a candidate fitted to weight 0 gives exactly the baseline's forecasts)."""
    return (rest + lam[:, None] * syn + beta[:, None] * pi) / (m + lam + beta)[:, None]


def _scores(q: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore"):
        logq = np.log(q)
    return {"brier": (q * q).sum(axis=1) - 2.0 * (q * target).sum(axis=1) + target.sum(axis=1),
            "log_loss": -np.where(target > 0, target * logq, 0.0).sum(axis=1)}


def _target(h_train: np.ndarray, k: int, smoothing_target: str) -> np.ndarray:
    """The smoothing target ``pi``: class frequencies of the training labels (add-one) or uniform."""
    if smoothing_target == "uniform":
        u = np.full(k, 1.0 / k)
        return u / u.sum()
    c = h_train.sum(axis=0) + 1.0
    return c / c.sum()


# ----------------------------------------------------------------------------------------------------------------
# The test
# ----------------------------------------------------------------------------------------------------------------


def _check_options(merge: str, synthetic_weight: Any, design: str, strata: str, cuts: Any, primary: str,
                   smoothing_target: str, n_folds: Any, n_resamples: Any, alpha: Any, margin: Any,
                   min_items: Any) -> tuple[float, float]:
    for name, value, valid in (("merge", merge, MERGES), ("design", design, DESIGNS), ("strata", strata, STRATA),
                               ("primary", primary, SCORES), ("smoothing_target", smoothing_target,
                                                              SMOOTHING_TARGETS)):
        if value not in valid:
            raise ValueError(f"{name} must be one of {list(valid)}, got {value!r}")
    if merge == "concat":
        if synthetic_weight is None or isinstance(synthetic_weight, bool) or not (
                isinstance(synthetic_weight, (int, float, np.integer, np.floating))
                and np.isfinite(synthetic_weight) and synthetic_weight > 0):
            raise ValueError("merge='concat' needs synthetic_weight > 0: how many votes the synthetic distribution "
                             f"counts for (e.g. 8 synthetic annotators), got {synthetic_weight!r}")
    elif synthetic_weight is not None:
        raise ValueError(f"synthetic_weight is only used by merge='concat' (merge={merge!r} fits its own weight); "
                         f"got {synthetic_weight!r}")
    try:
        c0, c1 = (float(c) for c in cuts)
    except (TypeError, ValueError):
        raise ValueError(f"cuts must be two numbers 0 <= low < high <= 1, got {cuts!r}") from None
    if not 0.0 <= c0 < c1 <= 1.0:
        raise ValueError(f"cuts must be two numbers 0 <= low < high <= 1, got {cuts!r}")
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ValueError(f"n_folds must be an integer >= 2, got {n_folds!r}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 100:
        raise ValueError(f"n_resamples must be an integer >= 100, got {n_resamples!r}")
    if not (isinstance(alpha, (int, float, np.floating)) and 0.0 < alpha < 0.5):
        raise ValueError(f"alpha must be a number in (0, 0.5), got {alpha!r}")
    if margin is not None and not (isinstance(margin, (int, float, np.floating)) and not isinstance(margin, bool)
                                   and np.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be None or a number >= 0 (in units of the primary score), got {margin!r}")
    if isinstance(min_items, bool) or not isinstance(min_items, (int, np.integer)) or min_items < 2:
        raise ValueError(f"min_items must be an integer >= 2, got {min_items!r}")
    return c0, c1


def synthetic_benefit(human_labels: Sequence[Sequence[int]] | np.ndarray,
                      synthetic: Sequence[Sequence[float]] | np.ndarray, n_classes: int, *,
                      merge: Merge = "weighted", synthetic_weight: float | None = None,
                      design: Design = "leave_one_out", strata: Strata = "entropy",
                      cuts: tuple[float, float] = (0.33, 0.66), primary: ScoreName = "brier",
                      smoothing_target: Target = "marginal", n_folds: int = 5, seed: int = 0,
                      n_resamples: int = 2000, alpha: float = 0.05, margin: float | None = None,
                      min_items: int = 20, atol: float = DIST_ATOL,
                      true_distributions: Any = None) -> SyntheticBenefitResult:
    """Held-out-annotator test of whether ``synthetic`` distributions improve forecasts of human labels.

    Args:
        human_labels: per item, the class index of every human label (one per annotator; rows may differ in
            length). Items with fewer than 2 labels (``split_half``: 4) are skipped and counted.
        synthetic: ``(n_items, n_classes)``: per item a distribution over the classes (normalised synthetic votes,
            or a score-mode distribution); an all-zero or empty row means "no synthetic distribution" (skipped and
            counted).
        n_classes: number of classes; labels are indices in ``[0, n_classes)``.
        merge: ``"weighted"`` (default; synthetic weight and pseudo-count cross-fitted per stratum), ``"concat"``
            (fixed ``synthetic_weight`` votes, the reference concatenation; its pseudo-count is cross-fitted) or
            ``"adaptive"`` (:func:`~hf_ambiguity.annotate.merge.fit_adaptive_merge`, cross-fitted).
        design: ``"leave_one_out"`` or ``"split_half"``; strata: ``"entropy"``, ``"reference"`` or ``"none"``;
            cuts: the two cut points of ``"entropy"`` strata. See the module docstring.
        primary: the score that decides the verdict, ``"brier"`` or ``"log_loss"``.
        smoothing_target: what the pseudo-counts shrink toward: ``"marginal"`` class frequencies of the training
            folds' human labels, or ``"uniform"``.
        n_folds, seed: cross-fitting folds (items at random) and the seed of folds, split halves and resampling.
        n_resamples: bootstrap and permutation resamples (>= 100). alpha: error rate of the verdicts. margin:
            non-inferiority margin in units of the primary score (``None``: no non-inferiority verdict).
        min_items: fewer items in a group gives the verdict ``"too few items"``. atol: tolerance of "sums to 1".
        true_distributions: simulations only: ``(n_items, n_classes)`` latent distributions; adds
            ``oracle_difference`` (the value the test estimates) to every group and score.

    Returns a :class:`SyntheticBenefitResult`. Raises ``ValueError`` naming the item for malformed input.
    """
    c0, c1 = _check_options(merge, synthetic_weight, design, strata, cuts, primary, smoothing_target, n_folds,
                            n_resamples, alpha, margin, min_items)
    k = _check_n_classes(n_classes)
    flat, lengths = _parse_labels(human_labels, k)
    n_input = len(lengths)
    s_all, has_syn = _parse_synthetic(synthetic, n_input, k, atol)
    truth_all = None
    if true_distributions is not None:
        truth_all, has_truth = _parse_synthetic(true_distributions, n_input, k, atol)
        if not has_truth.all():
            raise ValueError(f"true_distributions row {int(np.flatnonzero(~has_truth)[0])} is all zero")
    min_raters = 4 if design == "split_half" else 2
    enough = lengths >= min_raters
    use = enough & has_syn
    if int(use.sum()) < max(2 * n_folds, min_items):
        raise ValueError(
            f"only {int(use.sum())} items have >= {min_raters} human labels and a synthetic distribution; the test "
            f"needs at least {max(2 * n_folds, min_items)} (n_folds={n_folds}, min_items={min_items})")
    r_fold, r_split, r_boot, r_perm = np.random.default_rng(seed).spawn(4)
    item_all = np.repeat(np.arange(n_input), lengths)
    keep_label = use[item_all]
    flat_u = flat[keep_label]
    lengths_u = lengths[use]
    n = len(lengths_u)
    item_u = np.repeat(np.arange(n), lengths_u)
    h = np.bincount(item_u * k + flat_u, minlength=n * k).reshape(n, k).astype(np.float64)
    syn = s_all[use]
    sc = _loo_scenarios(h) if design == "leave_one_out" else _split_half_scenarios(flat_u, lengths_u, k, r_split)
    code, names = _strata(sc, strata, (c0, c1), k)
    n_strata = len(names)
    fold = r_fold.permutation(n) % n_folds
    sfold = fold[sc.item]
    s_syn = syn[sc.item]

    # every item weighs 1 in total (its pairs 1/n_i each); a stratum's value is the weighted mean over its pairs,
    # so the strata decompose the overall mean and a stratum's fit minimises exactly its share of the overall score
    key_is = sc.item * n_strata + code
    w_item_stratum = np.bincount(key_is, weights=sc.weight, minlength=n * n_strata).reshape(n, n_strata)
    item_in_stratum = w_item_stratum > 0

    # ---------------------------------------------------------------- cross-fitting
    # baseline: (r + beta*pi) / (m + beta). weighted: (r + lam*s + beta'*pi) / (m + lam + beta'), lam and beta'
    # fitted. concat / adaptive: a fixed synthetic weight a per scenario (concat: synthetic_weight; adaptive:
    # a0 * (1 - rho * H(r)) from fit_adaptive_merge), then the smoothing family on the augmented counts
    # (r + a*s, m + a): (r + a*s + beta'*pi) / (m + a + beta'). Every beta is fitted per fold and stratum.
    lam_t = {s_: np.zeros((n_folds, n_strata)) for s_ in SCORES}
    beta_base = {s_: np.zeros((n_folds, n_strata)) for s_ in SCORES}
    beta_cand = {s_: np.zeros((n_folds, n_strata)) for s_ in SCORES}
    pis = np.zeros((n_folds, k))
    a_scored = np.zeros(len(sc.m))   # the synthetic weight each scored scenario gets (concat / adaptive)
    fits: list[dict[str, Any]] = []
    with _one_blas_thread():
        for f in range(n_folds):
            train_items = fold != f
            pis[f] = _target(h[train_items], k, smoothing_target)
            tr = sfold != f
            a_f = None
            if merge == "concat":
                a_f = np.full(len(sc.m), float(synthetic_weight))
            elif merge == "adaptive":
                ad = fit_adaptive_merge(h[train_items], syn[train_items])
                a_f = ad.alm_weights(sc.rest, s_syn)
                fits.append({"fold": f, "stratum": None, "score": None, "merge": "adaptive",
                             "n_items_used": int(train_items.sum()), "n_items_scored": int((~train_items).sum()),
                             **{k2: float(v) for k2, v in vars(ad).items() if isinstance(v, (int, float))},
                             "note": "weight a0 * (1 - rho * H) used; smoothing refitted per stratum"})
            if a_f is not None:
                a_scored[~tr] = a_f[~tr]
                rest_c, m_c = sc.rest + a_f[:, None] * s_syn, sc.m + a_f
            pooled: tuple[_Training, _Training] | None = None
            fallback: dict[str, tuple[float, float, float]] = {}

            def trainings(rows: np.ndarray) -> tuple[_Training, _Training]:
                """(baseline, candidate) training data of these rows."""
                plain = _Training(sc.rest[rows], sc.m[rows], sc.target[rows], s_syn[rows], sc.weight[rows], pis[f])
                cand = plain if a_f is None else _Training(rest_c[rows], m_c[rows], sc.target[rows], s_syn[rows],
                                                            sc.weight[rows], pis[f])
                return plain, cand

            for j, name in enumerate(names):
                sel = tr & (code == j)
                n_train_items = int((item_in_stratum[:, j] & train_items).sum())
                own = n_train_items >= 10
                if own:
                    tb, tc = trainings(sel)
                for score in SCORES:
                    if own:
                        hint = (lam_t["brier"][f, j], beta_cand["brier"][f, j]) if score == "log_loss" else None
                        bb, lam, bc = _fit_candidate(tb, tc, score, merge, hint)
                    else:  # too few training items in this stratum: the fold's fit over all strata
                        if pooled is None:
                            pooled = trainings(tr)
                        if score not in fallback:
                            fallback[score] = _fit_candidate(pooled[0], pooled[1], score, merge, None)
                        bb, lam, bc = fallback[score]
                    beta_base[score][f, j], lam_t[score][f, j], beta_cand[score][f, j] = bb, lam, bc
                    fits.append({"fold": f, "stratum": name, "score": score, "merge": merge,
                                 "baseline_pseudo_count": bb,
                                 "candidate_synthetic_weight": lam if merge == "weighted" else (
                                     float(synthetic_weight) if merge == "concat" else None),
                                 "candidate_pseudo_count": bc, "pooled_over_strata": not own,
                                 "n_items_used": n_train_items, "smoothing_target": pis[f].tolist()})

    # ---------------------------------------------------------------- scoring the held-out folds
    pi_s = pis[sfold]
    zero = np.zeros(len(sc.m))
    base_scores: dict[str, np.ndarray] = {}
    cand_scores: dict[str, np.ndarray] = {}
    oracle: dict[str, np.ndarray] = {}
    truth_s = None if truth_all is None else truth_all[use][sc.item]
    for score in SCORES:
        qb = _forecast(sc.rest, sc.m, s_syn, zero, beta_base[score][sfold, code], pi_s)
        if merge == "weighted":
            qc = _forecast(sc.rest, sc.m, s_syn, lam_t[score][sfold, code], beta_cand[score][sfold, code], pi_s)
        else:
            qc = _forecast(sc.rest + a_scored[:, None] * s_syn, sc.m + a_scored, s_syn, zero,
                           beta_cand[score][sfold, code], pi_s)
        base_scores[score] = _scores(qb, sc.target)[score]
        if truth_s is not None:
            oracle[score] = _scores(qc, truth_s)[score] - _scores(qb, truth_s)[score]
        cand_scores[score] = _scores(qc, sc.target)[score]

    # ---------------------------------------------------------------- item-level sums per group
    # group 0 = all items, 1.. = strata; per item: weight in the group (den) and weighted score sums (num)
    n_groups = 1 + n_strata
    den = np.concatenate([np.ones((n, 1)), w_item_stratum], axis=1)
    present = den > 0

    def item_sums(vec: np.ndarray) -> np.ndarray:
        out = np.empty((n, n_groups))
        out[:, 0] = np.bincount(sc.item, weights=sc.weight * vec, minlength=n)
        out[:, 1:] = np.bincount(key_is, weights=sc.weight * vec, minlength=n * n_strata).reshape(n, n_strata)
        return out

    # (item, held-out label) pairs (leave-one-out) or (item, direction) pairs (split-half) per group
    pair_count = sc.weight * (sc.m + 1.0) if design == "leave_one_out" else np.ones(len(sc.m))
    pairs = np.concatenate([[pair_count.sum()], np.bincount(code, weights=pair_count, minlength=n_strata)])
    pairs = pairs.round().astype(np.int64)
    num = {sco: {"diff": item_sums(cand_scores[sco] - base_scores[sco]), "base": item_sums(base_scores[sco]),
                 "cand": item_sums(cand_scores[sco]),
                 "oracle": item_sums(oracle[sco]) if oracle else None} for sco in SCORES}

    # ---------------------------------------------------------------- inference
    levels_ci = [1.0 - alpha] + [1.0 - alpha / n_strata] * n_strata
    enough_g = present.sum(axis=0) >= min_items
    diff_num = np.concatenate([num[sco]["diff"] for sco in SCORES], axis=1)            # (n, 2 * n_groups)
    den2 = np.concatenate([den] * len(SCORES), axis=1)
    boot = _bootstrap_ratios(diff_num, den, len(SCORES), n_resamples, r_boot)          # (B, 2 * n_groups)
    perm_p = _sign_flip_pvalues(diff_num, den2, n_resamples, r_perm)                   # (2 * n_groups,)
    group_names = ("overall", *names)
    groups: dict[str, dict[str, ScoreComparison]] = {g: {} for g in group_names}
    for si, score in enumerate(SCORES):
        raw_w: list[float | None] = []
        raw_p: list[float | None] = []
        stats_g: list[Any] = []
        for gi in range(n_groups):
            col = si * n_groups + gi
            mask = present[:, gi]
            level = levels_ci[gi]
            if not mask.any():
                stats_g.append(None)
                raw_w.append(None)
                raw_p.append(None)
                continue
            wsum = den[mask, gi].sum()
            mean_d = float(num[score]["diff"][mask, gi].sum() / wsum)
            mb = float(num[score]["base"][mask, gi].sum() / wsum)
            mc = float(num[score]["cand"][mask, gi].sum() / wsum)
            orc = None if num[score]["oracle"] is None else float(num[score]["oracle"][mask, gi].sum() / wsum)
            if not enough_g[gi]:
                stats_g.append((mean_d, mb, mc, None, None, level, orc))
                raw_w.append(None)
                raw_p.append(None)
                continue
            bvals = boot[:, col]
            bvals = bvals[np.isfinite(bvals)]
            a2 = (1.0 - level) / 2.0
            ci = (float(np.quantile(bvals, a2)), float(np.quantile(bvals, 1.0 - a2)))
            upper = float(np.quantile(bvals, level))
            x = num[score]["diff"][mask, gi]       # each item's contribution to the group's weighted sum
            nz = x[x != 0]
            w_p = 1.0 if nz.size == 0 else float(stats.wilcoxon(nz, zero_method="wilcox").pvalue)
            raw_w.append(w_p)
            raw_p.append(float(perm_p[col]))
            stats_g.append((mean_d, mb, mc, ci, upper, level, orc))
        holm_w = _holm(raw_w[1:])
        holm_p = _holm(raw_p[1:])
        for gi, gname in enumerate(group_names):
            st = stats_g[gi]
            if st is None:
                groups[gname][score] = ScoreComparison(score, None, None, None, None, levels_ci[gi], None, None,
                                                       None, None, TOO_FEW, None)
                continue
            mean_d, mb, mc, ci, upper, level, orc = st
            if ci is None:
                verdict = TOO_FEW
            elif ci[1] < 0:
                verdict = HELPS
            elif ci[0] > 0:
                verdict = HURTS
            else:
                verdict = NO_DIFFERENCE
            ni = None
            if margin is not None:
                ni = NonInferiority(margin=float(margin), upper_bound=upper, confidence_level=level,
                                    verdict=NON_INFERIOR if upper is not None and upper < margin else NOT_SHOWN)
            groups[gname][score] = ScoreComparison(
                score=score, mean_baseline=mb, mean_candidate=mc, mean_difference=mean_d, confidence_interval=ci,
                confidence_level=level, wilcoxon_pvalue=raw_w[gi], permutation_pvalue=raw_p[gi],
                wilcoxon_pvalue_holm=None if gi == 0 else holm_w[gi - 1],
                permutation_pvalue_holm=None if gi == 0 else holm_p[gi - 1], verdict=verdict, non_inferiority=ni,
                oracle_difference=orc)

    def group(gi: int, gname: str) -> GroupResult:
        p = groups[gname][primary]
        return GroupResult(n_items=int(present[:, gi].sum()), n_pairs=int(pairs[gi]), verdict=p.verdict,
                           mean_difference=p.mean_difference, confidence_interval=p.confidence_interval,
                           confidence_level=p.confidence_level, wilcoxon_pvalue=p.wilcoxon_pvalue,
                           permutation_pvalue=p.permutation_pvalue, wilcoxon_pvalue_holm=p.wilcoxon_pvalue_holm,
                           permutation_pvalue_holm=p.permutation_pvalue_holm, non_inferiority=p.non_inferiority,
                           scores=groups[gname])

    settings = {
        "design": design, "merge": merge, "synthetic_weight": synthetic_weight, "strata": strata,
        "cuts": [c0, c1] if strata == "entropy" else None, "primary": primary, "scores": list(SCORES),
        "smoothing_target": smoothing_target, "n_folds": int(n_folds), "seed": seed,
        "n_resamples": int(n_resamples), "alpha": float(alpha), "margin": None if margin is None else float(margin),
        "min_items": int(min_items), "n_classes": k,
        "confidence_level_overall": levels_ci[0], "confidence_level_per_stratum": levels_ci[-1] if names else None,
        "multiplicity": f"per-stratum CIs at 1 - alpha/{n_strata} (Bonferroni); p-values Holm across strata",
        "n_items_input": n_input, "n_items_used": n,
        "n_items_skipped_too_few_labels": int((~enough).sum()),
        "n_items_skipped_no_synthetic": int((enough & ~has_syn).sum()),
        "baseline": "remaining human labels + cross-fitted pseudo-count toward the smoothing target",
        "difference": "candidate - baseline (negative: the synthetic distribution helps)",
    }
    return SyntheticBenefitResult(overall=group(0, "overall"),
                                  per_stratum={nm: group(j + 1, nm) for j, nm in enumerate(names)},
                                  settings=settings, fits=tuple(fits))


def _fit_candidate(train_base: _Training, train_cand: _Training, score: str, merge: str,
                   hint: tuple[float, float] | None = None) -> tuple[float, float, float]:
    """``(baseline beta, candidate lam, candidate beta')``. ``weighted``: lam and beta' on the baseline's training
    data (lam = 0 unless it helps); ``concat`` / ``adaptive``: beta' on the augmented counts (lam reported 0)."""
    beta0, v0 = _fit_beta(train_base, score, 0.0)
    if merge == "weighted":
        lam, beta_c, _ = _fit_lam_beta(train_base, score, (beta0, v0), hint)
        return beta0, lam, beta_c
    beta_c, _ = _fit_beta(train_cand, score, 0.0)
    return beta0, 0.0, beta_c


def _holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values of the non-``None`` entries (same values as ``statsmodels``'
    ``multipletests(method="holm")``, which runs a garbage collection on every call)."""
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    out: list[float | None] = [None] * len(pvalues)
    if idx:
        p = np.array([pvalues[i] for i in idx], dtype=np.float64)
        order = np.argsort(p, kind="stable")
        adj = np.minimum(1.0, np.maximum.accumulate(p[order] * np.arange(len(p), 0, -1)))
        corrected = np.empty_like(p)
        corrected[order] = adj
        for i, c in zip(idx, corrected):
            out[i] = float(c)
    return out


def _bootstrap_ratios(num: np.ndarray, den: np.ndarray, n_blocks: int, n_resamples: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Nonparametric bootstrap over items (rows): ``(n_resamples, n_cols)`` resampled ratios ``sum(num) / sum(den)``
    per column. ``num`` is ``(n, n_blocks * n_groups)`` (one block per score), ``den`` ``(n, n_groups)`` shared by
    the blocks. One resample of items (multinomial counts, built in chunks) serves every column."""
    n, n_num = num.shape
    numden = np.concatenate([num, den], axis=1)
    out = np.empty((n_resamples, n_num))
    chunk = max(1, _CHUNK_ENTRIES // max(n, 1))
    w = np.empty((min(chunk, n_resamples), n))
    for s in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - s)
        idx = rng.integers(0, n, size=(b, n), dtype=np.int64)
        for r in range(b):  # one bincount per resample (a loop over resamples, not items)
            w[r] = np.bincount(idx[r], minlength=n)
        both = w[:b] @ numden
        with np.errstate(invalid="ignore", divide="ignore"):
            out[s:s + b] = both[:, :n_num] / np.tile(both[:, n_num:], n_blocks)
    return out


def _sign_flip_pvalues(num: np.ndarray, den: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Two-sided sign-flip permutation p-value of each column's ratio ``sum(num) / sum(den)``: under the null each
    item's contribution is symmetric about 0, so its sign is flipped at random (one flip per item shared by all
    columns), in chunks; ``(count + 1) / (n_resamples + 1)`` per side, doubled and capped at 1, ties at the observed
    value within a relative tolerance, as in ``scipy.stats.permutation_test``."""
    n = num.shape[0]
    tot_den = den.sum(axis=0)
    total = num.sum(axis=0)
    observed = np.divide(total, tot_den, out=np.zeros_like(total), where=tot_den > 0)
    gamma = np.maximum(1e-14, np.abs(1e-14 * observed))
    less = np.zeros(num.shape[1])
    greater = np.zeros(num.shape[1])
    chunk = max(1, _CHUNK_ENTRIES // max(n, 1))
    for s in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - s)
        raw = rng.integers(0, 256, size=(b, (n + 7) // 8), dtype=np.uint8)
        bits = np.unpackbits(raw, axis=1, count=n).astype(np.float64)
        null = np.divide(total - 2.0 * (bits @ num), tot_den, out=np.zeros((b, num.shape[1])), where=tot_den > 0)
        less += (null <= observed + gamma).sum(axis=0)
        greater += (null >= observed - gamma).sum(axis=0)
    p_less = (less + 1.0) / (n_resamples + 1.0)
    p_greater = (greater + 1.0) / (n_resamples + 1.0)
    p = np.minimum(1.0, 2.0 * np.minimum(p_less, p_greater))
    p[(num == 0).all(axis=0)] = 1.0
    return p


# ----------------------------------------------------------------------------------------------------------------
# Fitting a merge on the rows it may use (e.g. the training split), to apply it elsewhere
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeFit:
    """A forecast family fitted by leave-one-label-out on the rows given to :func:`fit_merge` only.

    ``predict(human_votes, synthetic)`` gives ``(h + a * s + pseudo_count * target) / (n + a + pseudo_count)`` with
    ``a = synthetic_weight`` (``merge="smoothing"``: ``a = 0``; ``"adaptive"``: ``a_i = concentration * (1 -
    entropy_reduction * H_i)`` of the fitted :class:`AdaptiveMerge`, whose own uniform smoothing is replaced by
    ``pseudo_count``); rows without a synthetic distribution get ``a = 0``. ``n_items_used``
    / ``n_labels_used`` say what it was fitted on (record them, with the split name, in the stage's provenance).
    """

    merge: str
    score: str
    synthetic_weight: float | None
    pseudo_count: float | None
    target: tuple[float, ...]
    adaptive: AdaptiveMerge | None
    n_items_used: int
    n_labels_used: int

    def predict(self, human_votes: Any, synthetic: Any = None) -> np.ndarray:
        """Forecast distributions ``(n_items, n_classes)`` for whole or fractional ``human_votes`` (and the
        synthetic distributions or votes, normalised row-wise, unless ``merge="smoothing"``)."""
        h = np.asarray(human_votes, dtype=np.float64)
        if h.ndim != 2 or h.shape[1] != len(self.target):
            raise ValueError(f"human_votes must have shape (n_items, {len(self.target)}), got {h.shape}")
        if self.merge == "smoothing":
            s = np.zeros_like(h)
        else:
            if synthetic is None:
                raise ValueError(f"merge={self.merge!r} needs the synthetic distributions")
            s = np.asarray(synthetic, dtype=np.float64)
            if s.shape != h.shape:
                raise ValueError(f"synthetic has shape {s.shape} but human_votes has {h.shape}")
            tot = s.sum(axis=1, keepdims=True)
            s = np.divide(s, tot, out=np.zeros_like(s), where=tot > 0)
        if self.merge == "adaptive":
            assert self.adaptive is not None
            lam = self.adaptive.alm_weights(h, s)
        else:
            lam = np.full(len(h), float(self.synthetic_weight or 0.0))
            lam[s.sum(axis=1) == 0] = 0.0
        return _forecast(h, h.sum(axis=1), s, lam, np.full(len(h), float(self.pseudo_count)),
                         np.asarray(self.target))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["adaptive"] = None if self.adaptive is None else {
            k: float(v) for k, v in vars(self.adaptive).items() if isinstance(v, (int, float))}
        return _json_safe(d)


def fit_merge(human_labels: Any, synthetic: Any = None, n_classes: int | None = None, *,
              merge: Literal["smoothing", "concat", "weighted", "adaptive"] = "weighted",
              synthetic_weight: float | None = None, score: ScoreName = "brier",
              smoothing_target: Target = "marginal", atol: float = DIST_ATOL) -> MergeFit:
    """Fit the smoothing baseline or a merge on these rows only (e.g. the training split) by leave-one-label-out.

    ``merge="smoothing"``: the ALM-free pseudo-count ``beta`` of ``(h + beta * target) / (n + beta)``;
    ``"concat"``: the pseudo-count added to ``h + synthetic_weight * s``; ``"weighted"``: the synthetic weight and
    the pseudo-count; ``"adaptive"``: the ALM weight of :func:`~hf_ambiguity.annotate.merge.fit_adaptive_merge`
    (fitted by its held-out likelihood), then the pseudo-count. Fitting minimises the
    mean ``score`` of each held-out label given the item's other labels (items with >= 2 labels, each item counting
    once), as in :func:`synthetic_benefit`. Items without a synthetic distribution are not used by merges that need
    one. Apply the result to other rows with :meth:`MergeFit.predict`.

    >>> rng = np.random.default_rng(1)
    >>> truth = rng.dirichlet(np.ones(3), size=300)
    >>> labels = [rng.choice(3, size=4, p=p).tolist() for p in truth]
    >>> smooth = fit_merge(labels, n_classes=3, merge="smoothing")
    >>> good = fit_merge(labels, truth, 3, merge="weighted")
    >>> smooth.pseudo_count > 0, good.synthetic_weight > 1.0
    (True, True)
    """
    if merge not in ("smoothing", *MERGES):
        raise ValueError(f"merge must be one of {['smoothing', *MERGES]}, got {merge!r}")
    if score not in SCORES:
        raise ValueError(f"score must be one of {list(SCORES)}, got {score!r}")
    if smoothing_target not in SMOOTHING_TARGETS:
        raise ValueError(f"smoothing_target must be one of {list(SMOOTHING_TARGETS)}, got {smoothing_target!r}")
    if n_classes is None:
        if synthetic is None:
            raise ValueError("n_classes is needed when no synthetic distributions are given")
        n_classes = len(np.asarray(synthetic)[0])
    k = _check_n_classes(n_classes)
    if merge == "concat":
        _check_options("concat", synthetic_weight, "leave_one_out", "none", (0.33, 0.66), score, smoothing_target,
                       2, 100, 0.05, None, 2)
    elif synthetic_weight is not None:
        raise ValueError(f"synthetic_weight is only used by merge='concat', got {synthetic_weight!r}")
    h_all = labels_to_votes(human_labels, k)
    if merge == "smoothing":
        s_all, has = np.zeros_like(h_all), np.ones(len(h_all), dtype=bool)
    else:
        if synthetic is None:
            raise ValueError(f"merge={merge!r} needs the synthetic distributions")
        s_all, has = _parse_synthetic(synthetic, len(h_all), k, atol)
    use = (h_all.sum(axis=1) >= 2) & has
    if not use.any():
        raise ValueError("fitting needs items with at least 2 human labels (and a synthetic distribution); "
                         "none were given")
    with _one_blas_thread():
        return _fit_merge_rows(h_all[use], s_all[use], k, merge, synthetic_weight, score, smoothing_target)


def _fit_merge_rows(h: np.ndarray, s: np.ndarray, k: int, merge: str, synthetic_weight: float | None, score: str,
                    smoothing_target: str) -> MergeFit:
    pi = _target(h, k, smoothing_target)
    sc = _loo_scenarios(h)
    s_sc = s[sc.item]
    train = _Training(sc.rest, sc.m, sc.target, s_sc, sc.weight, pi)
    ad = None
    if merge == "smoothing":
        beta, _ = _fit_beta(train, score, 0.0)
        lam: float | None = 0.0
    elif merge == "weighted":
        _, lam, beta = _fit_candidate(train, train, score, "weighted")
    else:
        if merge == "adaptive":
            ad = fit_adaptive_merge(h, s)
            a = ad.alm_weights(sc.rest, s_sc)
            lam = None
        else:
            lam = float(synthetic_weight)
            a = np.full(len(sc.m), lam)
        train_c = _Training(sc.rest + a[:, None] * s_sc, sc.m + a, sc.target, s_sc, sc.weight, pi)
        beta, _ = _fit_beta(train_c, score, 0.0)
    return MergeFit(merge, score, lam, beta, tuple(float(x) for x in pi), ad, len(h), int(h.sum()))
