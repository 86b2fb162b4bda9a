"""Merging human and synthetic (ALM) emotion votes into one distribution, vectorised over utterances.

Three strategies, all on ``(n_items, n_classes)`` arrays in the same class order:

- ``"concat"`` (the reference method): human and synthetic labels concatenated, one count each;
  ``votes = human + synthetic``, ``dist = votes / total``.
- ``"weighted"``: ``votes = human + weight * synthetic`` (``weight`` = λ; ``weight=1`` is ``concat``).
- ``"adaptive"``: an empirical-Bayes Dirichlet–multinomial posterior mean with the ALM distribution as prior
  (:class:`AdaptiveMerge`, fitted from the human votes alone by :func:`fit_adaptive_merge`).

The adaptive posterior mean of item ``i`` with human votes ``h_i`` (``n_i`` of them), ALM distribution ``s_i``
(the synthetic row normalised; a distribution may be passed directly) and uniform ``u = 1/n_classes`` is::

    a_i  = concentration * (1 - entropy_reduction * H_i)          # ALM pseudo-count, reduced by human entropy
    p_i  = (h_i + a_i * s_i + smoothing * u) / (n_i + a_i + smoothing)

where ``H_i = normalized_entropy(h_i / n_i)`` over all ``n_classes`` (0 for a row without human votes).
``concentration`` (a >= 0), ``entropy_reduction`` (ρ in [0, 1]) and ``smoothing`` (b >= 0, a small uniform
pseudo-count that keeps held-out likelihoods finite) maximise the leave-one-annotator-out likelihood of the human
labels: each human label is predicted from the item's other human labels plus the prior (``H`` then computed from
those other labels). A proxy that contradicts the humans gets ``concentration`` near 0, i.e. the merge falls back to
(lightly smoothed) human-only; a proxy that agrees gets a large one. Rows whose synthetic votes sum to zero (every ALM
answer invalid) get ``a_i = 0``.

>>> human = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 0.0]])
>>> synthetic = np.array([[4.0, 0.0, 0.0], [0.0, 2.0, 2.0]])
>>> votes, dist = merge_votes(human, synthetic)                  # concat: one count per label
>>> votes
array([[6., 1., 0.],
       [0., 5., 2.]])
>>> dist.round(3)
array([[0.857, 0.143, 0.   ],
       [0.   , 0.714, 0.286]])
>>> merge_votes(human, synthetic, strategy="weighted", weight=0.5).votes
array([[4., 1., 0.],
       [0., 4., 1.]])
>>> params = AdaptiveMerge(concentration=2.0, entropy_reduction=0.0, smoothing=0.0)
>>> merge_votes(human, synthetic, strategy="adaptive", adaptive=params).dist.round(3)
array([[0.8, 0.2, 0. ],
       [0. , 0.8, 0.2]])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Literal

import numpy as np
from scipy.optimize import minimize

from hf_ambiguity.distributions import normalized_entropy, validate_votes, votes_to_distribution
from hf_ambiguity.provenance import attach_provenance, read_provenance
from hf_ambiguity.schema import distribution_feature

__all__ = ["MergeResult", "AdaptiveMerge", "merge_votes", "fit_adaptive_merge", "merge_dataset", "MERGE_STRATEGIES"]

MergeStrategy = Literal["concat", "weighted", "adaptive"]
MERGE_STRATEGIES: tuple[str, ...] = ("concat", "weighted", "adaptive")


@dataclass(frozen=True)
class MergeResult:
    """Merged ``votes`` and ``dist`` (both ``(n_items, n_classes)``) and the synthetic pseudo-count per item.

    ``synthetic_weight`` (``(n_items,)``) is the total mass the synthetic side contributes to ``votes``:
    ``sum(synthetic)`` for concat, ``weight * sum(synthetic)`` for weighted, ``a_i`` for adaptive.
    Unpacks as ``votes, dist = merge_votes(...)``.
    """

    votes: np.ndarray
    dist: np.ndarray
    strategy: str
    synthetic_weight: np.ndarray = field(repr=False)

    def __iter__(self) -> Iterator[np.ndarray]:
        yield self.votes
        yield self.dist


@dataclass(frozen=True)
class AdaptiveMerge:
    """Fitted parameters of the adaptive (empirical-Bayes) merge; see the module docstring for the formula.

    ``loo_loglik`` is the mean held-out log-likelihood per human label at the fitted parameters and
    ``loo_loglik_without_alm`` the same with ``concentration = 0`` and the smoothing refitted alone
    (``smoothing_without_alm``): the ALM-free empirical-Bayes estimate, i.e. what the ALM prior adds. These are
    ``nan`` when constructed by hand; ``n_items_used`` / ``n_labels_used`` count the items (>= 2 human votes) and
    labels fitted on.
    """

    concentration: float
    entropy_reduction: float = 0.0
    smoothing: float = 0.0
    loo_loglik: float = float("nan")
    loo_loglik_without_alm: float = float("nan")
    smoothing_without_alm: float = float("nan")
    n_items_used: int = 0
    n_labels_used: int = 0

    def __post_init__(self) -> None:
        for name, value, lo, hi in (("concentration", self.concentration, 0.0, np.inf),
                                    ("entropy_reduction", self.entropy_reduction, 0.0, 1.0),
                                    ("smoothing", self.smoothing, 0.0, np.inf)):
            if not (np.isfinite(value) and lo <= value <= hi):
                raise ValueError(f"AdaptiveMerge.{name} must be a finite number in [{lo}, {hi}], got {value!r}")

    def alm_weights(self, human_votes: np.ndarray, synthetic: np.ndarray) -> np.ndarray:
        """ALM pseudo-counts ``a_i`` (``(n_items,)``) for validated inputs of the same shape."""
        h = np.asarray(human_votes, dtype=np.float64)
        n = h.sum(axis=1)
        ent = np.zeros(len(h))
        has = n > 0
        ent[has] = normalized_entropy(h[has] / n[has, None])
        a = self.concentration * (1.0 - self.entropy_reduction * ent)
        return np.where(np.asarray(synthetic).sum(axis=1) > 0, a, 0.0)

    def merge(self, human_votes: np.ndarray, synthetic: np.ndarray) -> MergeResult:
        """Posterior pseudo-counts and posterior-mean distributions (same as ``merge_votes(strategy="adaptive")``)."""
        return merge_votes(human_votes, synthetic, strategy="adaptive", adaptive=self)


def _check_pair(human_votes: np.ndarray, synthetic_votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h = validate_votes(human_votes, name="human_votes")
    s = validate_votes(synthetic_votes, name="synthetic_votes")
    if h.shape != s.shape:
        raise ValueError(
            f"human_votes has shape {h.shape} but synthetic_votes has shape {s.shape}; both must be "
            "(n_items, n_classes) with the same rows and the same class order"
        )
    return h, s


def _rows_normalised(s: np.ndarray) -> np.ndarray:
    tot = s.sum(axis=1, keepdims=True)
    return np.divide(s, tot, out=np.zeros_like(s), where=tot > 0)


def merge_votes(human_votes: np.ndarray, synthetic_votes: np.ndarray, *, strategy: MergeStrategy = "concat",
                weight: float = 1.0, adaptive: AdaptiveMerge | None = None) -> MergeResult:
    """Merge human and synthetic votes (``(n_items, n_classes)`` each) with ``strategy``; see the module docstring.

    ``weight`` is λ of ``"weighted"``; ``adaptive`` the fitted :class:`AdaptiveMerge` of ``"adaptive"`` (fit it with
    :func:`fit_adaptive_merge`). For ``"adaptive"`` the synthetic rows may be counts or distributions (only their
    normalised shape is used). Raises ``ValueError`` naming the row for negative / non-finite votes and for a row
    left with no votes at all.

    >>> merge_votes(np.zeros((1, 2)), np.zeros((1, 2)))
    Traceback (most recent call last):
    ...
    hf_ambiguity.errors.DistributionError: merged votes row 0 has no votes inside the class set, so it has no distribution; drop the row first: [0.0, 0.0]
    """
    if strategy not in MERGE_STRATEGIES:
        raise ValueError(f"strategy must be one of {list(MERGE_STRATEGIES)}, got {strategy!r}")
    h, s = _check_pair(human_votes, synthetic_votes)
    if strategy == "concat":
        votes, syn_w = h + s, s.sum(axis=1)
    elif strategy == "weighted":
        if not (np.isfinite(weight) and weight >= 0):
            raise ValueError(f"weight (λ of the weighted merge) must be a finite number >= 0, got {weight!r}")
        votes, syn_w = h + weight * s, weight * s.sum(axis=1)
    else:
        if not isinstance(adaptive, AdaptiveMerge):
            raise ValueError(
                "strategy='adaptive' needs adaptive=AdaptiveMerge(...); fit one from the human votes with "
                f"fit_adaptive_merge(human_votes, synthetic), got {adaptive!r}"
            )
        empty = (h.sum(axis=1) <= 0) & (s.sum(axis=1) <= 0)
        if empty.any():
            i = int(np.flatnonzero(empty)[0])
            raise ValueError(f"row {i}: neither human nor synthetic votes inside the class set, so it has no "
                             "distribution; drop the row first")
        syn_w = adaptive.alm_weights(h, s)
        k = h.shape[1]
        votes = h + syn_w[:, None] * _rows_normalised(s) + adaptive.smoothing / k
    return MergeResult(votes=votes, dist=votes_to_distribution(votes, name="merged votes"), strategy=strategy, synthetic_weight=syn_w)


# ----------------------------------------------------------------------------------------------------------------
# Fitting the adaptive merge by leave-one-annotator-out likelihood of the human labels
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _LooTerms:
    """Everything the held-out likelihood needs that does not depend on the parameters (items with >= 2 votes).

    For item i and class c with ``h_ic > 0`` one vote of class c is held out: ``w_ic = min(1, h_ic)`` (a whole
    vote, or the whole share when an annotator's weight was split over several labels), and its log-predictive
    probability is weighted by the class's mass ``h_ic`` (the number of class-c labels, for whole counts).
    """

    count: np.ndarray         # (m, k): weight of the class-c held-out term (= h_ic)
    rest: np.ndarray          # (m, k): class-c votes left after holding one out (= h_ic - w_ic)
    rest_total: np.ndarray    # (m, k): n_i - w_ic
    rest_entropy: np.ndarray  # (m, k): normalised entropy of the votes left when a class-c vote is held out
    prior: np.ndarray         # (m, k): ALM distribution
    has_prior: np.ndarray     # (m,): synthetic row not all zero


def _loo_terms(h: np.ndarray, s: np.ndarray) -> _LooTerms:
    n = h.sum(axis=1)
    keep = n >= 2
    h, s, n = h[keep], s[keep], n[keep]
    k = h.shape[1]
    w = np.minimum(h, 1.0)                                        # (m, k) mass held out per class
    rest_full = h[:, None, :] - w[:, :, None] * np.eye(k)[None]   # rest_full[i, c, :] = h_i - w_ic e_c
    rest_total = n[:, None] - w
    with np.errstate(divide="ignore", invalid="ignore"):
        rest_ent = normalized_entropy(rest_full / rest_total[:, :, None])
    return _LooTerms(count=h, rest=h - w, rest_total=rest_total, rest_entropy=np.nan_to_num(rest_ent),
                     prior=_rows_normalised(s), has_prior=s.sum(axis=1) > 0)


def _loo_mean_loglik(t: _LooTerms, a0: float, rho: float, b: float) -> float:
    k = t.count.shape[1]
    a = a0 * (1.0 - rho * t.rest_entropy) * t.has_prior[:, None]      # (m, k)
    num = t.rest + a * t.prior + b / k
    den = t.rest_total + a + b
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.where(t.count > 0, t.count * np.log(np.maximum(num, 0.0) / den), 0.0)
    return float(ll.sum() / t.count.sum())


def fit_adaptive_merge(human_votes: np.ndarray, synthetic: np.ndarray, *, entropy_reduction: float | None = None,
                       keep_smoothing: bool = True, max_concentration: float = 1e4) -> AdaptiveMerge:
    """Fit :class:`AdaptiveMerge` from human votes and synthetic votes or distributions alone.

    Maximises the mean leave-one-annotator-out log-likelihood of the human labels (items with >= 2 human votes)
    over ``concentration`` in ``[0, max_concentration]``, ``smoothing`` in ``[0, 1e3]`` and ``entropy_reduction``
    in ``[0, 1]`` (held fixed when given). No ground truth is used, so it fits on real corpora. With whole counts
    the held-out likelihood is exact; with fractional votes (an annotator's weight split over several labels, as
    ``votes_from_answers(multi_label="fractional")`` gives) one unit of a class's mass, or all of it when below 1,
    is held out at a time: an approximation, since vote vectors do not say which labels one annotator gave.

    ``keep_smoothing=False`` fits the same way but returns ``smoothing=0``: the uniform pseudo-count then only
    keeps the held-out likelihood finite during fitting (a human-only estimate gives probability 0 to a label seen
    once), and the merge falls back to exactly human-only where the ALM weight is 0. The default keeps it, which is
    the full empirical-Bayes posterior mean (usually the lower divergence from the truth with 3-7 human votes).

    >>> rng = np.random.default_rng(0)
    >>> truth = rng.dirichlet(np.ones(4) * 0.5, size=2000)
    >>> human = np.stack([rng.multinomial(5, p) for p in truth]).astype(float)
    >>> good = fit_adaptive_merge(human, truth)                     # a perfect proxy: weight it a lot
    >>> bad = fit_adaptive_merge(human, np.roll(truth, 1, axis=1))  # a proxy that contradicts the humans
    >>> good.concentration > 1.0 > bad.concentration
    True
    """
    h, s = _check_pair(human_votes, synthetic)
    t = _loo_terms(h, s)
    if t.count.shape[0] == 0:
        raise ValueError("fitting the adaptive merge needs items with at least 2 human votes; none were given")
    if entropy_reduction is not None and not 0.0 <= entropy_reduction <= 1.0:
        raise ValueError(f"entropy_reduction must be in [0, 1] or None (fitted), got {entropy_reduction!r}")
    lo_a, hi_a = np.log(1e-4), np.log(max_concentration)
    lo_b, hi_b = np.log(1e-4), np.log(1e3)

    def unpack(x: np.ndarray) -> tuple[float, float, float]:
        rho = entropy_reduction if entropy_reduction is not None else float(x[2])
        return float(np.exp(x[0])), rho, float(np.exp(x[1]))

    def objective(x: np.ndarray) -> float:
        val = _loo_mean_loglik(t, *unpack(x))
        return -val if np.isfinite(val) else 1e6

    # coarse grid for a start point, then a bounded quasi-Newton polish
    rho_grid = [entropy_reduction] if entropy_reduction is not None else [0.0, 0.5, 1.0]
    starts = [(la, lb, r) for la in np.linspace(lo_a, hi_a, 9) for lb in np.linspace(lo_b, hi_b, 7) for r in rho_grid]
    best0 = min(starts, key=lambda x: objective(np.array(x)))
    bounds = [(lo_a, hi_a), (lo_b, hi_b)] + ([(0.0, 1.0)] if entropy_reduction is None else [])
    x0 = np.array(best0[: len(bounds)])
    res = minimize(objective, x0, method="L-BFGS-B", bounds=bounds)
    x = res.x if res.fun <= objective(x0) else x0
    a0, rho, b = unpack(x)
    # the ALM-free reference (smoothing only), for the report: how much the ALM prior adds
    res0 = minimize(lambda z: -_loo_mean_loglik(t, 0.0, 0.0, float(np.exp(z[0]))), np.array([0.0]),
                    method="L-BFGS-B", bounds=[(lo_b, hi_b)])
    if a0 <= 1e-4 * 1.0001:  # at the lower bound: the data want no ALM weight at all
        a0, rho = 0.0, 0.0
    return AdaptiveMerge(concentration=a0, entropy_reduction=float(rho), smoothing=b if keep_smoothing else 0.0,
                         loo_loglik=_loo_mean_loglik(t, a0, rho, b), loo_loglik_without_alm=float(-res0.fun),
                         smoothing_without_alm=float(np.exp(res0.x[0])),
                         n_items_used=int(t.count.shape[0]), n_labels_used=int(round(t.count.sum())))


def merge_dataset(dataset: Any, *, human: str = "human", synthetic: str = "synthetic", strategy: str = "concat",
                  weight: float = 1.0, adaptive: Any = None, fitted_on: dict[str, Any] | None = None):
    """Add ``combined_votes``/``combined_dist`` = :func:`merge_votes` of ``<human>_votes`` and
    ``<synthetic>_votes`` (reference: ``strategy="concat"``). ``"adaptive"`` without ``adaptive`` parameters fits them
    on this dataset's human votes (:func:`fit_adaptive_merge`); to score the merge on some of these rows, fit it on
    others (the training split) and pass the parameters, with ``fitted_on`` saying which rows (recorded in the
    provenance). Both columns have the type of every vote and distribution column
    (:func:`hf_ambiguity.schema.distribution_feature`)."""
    for col in (f"{human}_votes", f"{synthetic}_votes"):
        if col not in dataset.column_names:
            raise ValueError(f"dataset has no column {col!r}; run annotate(..., name={synthetic!r}) first "
                             f"(columns: {dataset.column_names})")
    h = np.asarray(dataset[f"{human}_votes"], dtype=np.float64)
    s = np.asarray(dataset[f"{synthetic}_votes"], dtype=np.float64)
    if strategy == "adaptive" and adaptive is None:
        adaptive = fit_adaptive_merge(h, s)
    result = merge_votes(h, s, strategy=strategy, weight=weight, adaptive=adaptive)
    present = [c for c in ("combined_votes", "combined_dist") if c in dataset.column_names]
    if present:
        dataset = dataset.remove_columns(present)
    dataset = dataset.add_column("combined_votes", result.votes.tolist(), feature=distribution_feature())
    dataset = dataset.add_column("combined_dist", result.dist.tolist(), feature=distribution_feature())
    prov = {"human": human, "synthetic": synthetic, "strategy": strategy, "weight": weight,
            "synthetic_provenance": read_provenance(dataset).get(synthetic)}
    if strategy == "adaptive":
        prov["adaptive"] = {k: float(v) for k, v in vars(adaptive).items() if isinstance(v, (int, float))}
        prov["fitted_on"] = fitted_on or {"rows": "every row of this dataset (no held-out rows)"}
    return attach_provenance(dataset, "combined", prov)
