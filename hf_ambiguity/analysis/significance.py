"""Is candidate A closer to the reference than candidate B? Paired tests on per-item divergences.

Typical use: ``div_a = js_divergence(human_plus_synthetic, held_out)`` and ``div_b = js_divergence(human_only,
held_out)`` on the same items; lower divergence is better, so a negative ``mean_difference`` (A − B) favours A.

For each group (all items, then each ambiguity level) ``paired_comparison`` reports

- the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, zero differences dropped: ``zero_method="wilcox"``);
- a sign-flip permutation test of the mean difference (vectorised; the conventions of
  ``scipy.stats.permutation_test(..., permutation_type="samples")``, exact when 2**n <= ``n_resamples``);
- the matched-pairs rank-biserial correlation (R+ − R−) / (R+ + R−) over non-zero differences (positive: A has the
  larger divergences), and the mean difference with a paired-bootstrap percentile 95 % CI.

p-values of the levels are corrected together for multiple comparisons (``statsmodels`` ``multipletests``,
Holm by default); the overall test is a separate family of one and is not corrected.

>>> rng = np.random.default_rng(0)
>>> b = rng.uniform(0.2, 0.6, 60)
>>> a = b - 0.05 + rng.normal(0, 0.02, 60)
>>> res = paired_comparison(a, b, ["low", "high"] * 30, n_resamples=2000)
>>> res.overall.mean_difference < 0, res.overall.wilcoxon_pvalue < 0.001
(True, True)
>>> sorted(res.per_level), res.per_level["low"].wilcoxon_pvalue_corrected <= 1.0
(['high', 'low'], True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

from hf_ambiguity.analysis import divergences
from hf_ambiguity.analysis.divergences import check_ambiguity
from hf_ambiguity.distributions import DIST_ATOL
from hf_ambiguity.schema import AMBIGUITY_LEVELS

__all__ = ["PairedTest", "PairedComparison", "paired_comparison", "compare_candidates", "CORRECTIONS", "DIVERGENCES"]

#: Multiple-comparison corrections accepted (``statsmodels.stats.multitest.multipletests`` methods, or "none").
CORRECTIONS = ("holm", "bonferroni", "sidak", "holm-sidak", "hommel", "fdr_bh", "fdr_by", "none")

Alternative = Literal["two-sided", "less", "greater"]

#: Per-item divergences ``compare_candidates`` can test (all: lower = closer to the reference).
DIVERGENCES = {
    "js_divergence_base2": lambda p, q: divergences.js_divergence(p, q, base=2.0),
    "js_distance_natural": divergences.js_distance,
    "total_variation_distance": divergences.total_variation_distance,
    "kl_divergence_natural": lambda p, q: divergences.kl_divergence(q, p),
    "bhattacharyya_distance": lambda p, q: -np.log(np.maximum(divergences.bhattacharyya_coefficient(p, q), 1e-300)),
}


@dataclass(frozen=True)
class PairedTest:
    """Paired comparison of A and B on one group of items (differences are A − B)."""

    n_items: int
    mean_a: float
    mean_b: float
    mean_difference: float
    mean_difference_ci95: tuple[float, float]
    median_difference: float
    n_zero_differences: int
    wilcoxon_statistic: float | None
    wilcoxon_pvalue: float
    permutation_pvalue: float
    rank_biserial: float | None
    wilcoxon_pvalue_corrected: float | None = None
    permutation_pvalue_corrected: float | None = None


@dataclass(frozen=True)
class PairedComparison:
    """Result of ``paired_comparison``: overall test, per-level tests (corrected across levels), settings."""

    overall: PairedTest
    per_level: dict[str, PairedTest] = field(default_factory=dict)
    correction: str = "holm"
    alternative: str = "two-sided"
    n_resamples: int = 10000
    seed: int = 0
    divergence: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plain dict (tuples become lists)."""
        d = asdict(self)
        for test in [d["overall"], *d["per_level"].values()]:
            test["mean_difference_ci95"] = list(test["mean_difference_ci95"])
        return d


def _as_vector(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one value per item (1-D), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: at least one item is needed")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} row {i} is {arr[i]}: per-item divergences must be finite numbers")
    return arr


def _sign_flip_pvalue(d: np.ndarray, *, n_resamples: int, rng: np.random.Generator,
                      alternative: Alternative) -> float:
    """Sign-flip permutation test of mean(d), vectorised; same conventions as ``scipy.stats.permutation_test``
    (``permutation_type="samples"``): exact over all 2**n sign patterns when 2**n <= n_resamples, otherwise
    ``n_resamples`` random patterns with the +1 correction, and the same relative tie tolerance."""
    n = d.size
    observed = d.mean()
    exact = n < 63 and 2**n <= n_resamples
    total = 2**n if exact else n_resamples
    chunk = max(1, 20_000_000 // n)
    less = greater = 0
    gamma = max(1e-14, abs(1e-14 * observed))
    for s in range(0, total, chunk):
        m = min(chunk, total - s)
        if exact:
            codes = np.arange(s, s + m, dtype=np.uint64)
            bits = ((codes[:, None] >> np.arange(n, dtype=np.uint64)) & np.uint64(1)).astype(np.float64)
        else:
            raw = rng.integers(0, 256, size=(m, (n + 7) // 8), dtype=np.uint8)
            bits = np.unpackbits(raw, axis=1, count=n).astype(np.float64)
        null = (d.sum() - 2.0 * (bits @ d)) / n  # bit 1 flips the sign of that difference
        less += int(np.count_nonzero(null <= observed + gamma))
        greater += int(np.count_nonzero(null >= observed - gamma))
    adj = 0 if exact else 1
    p_less, p_greater = (less + adj) / (total + adj), (greater + adj) / (total + adj)
    if alternative == "less":
        return float(p_less)
    if alternative == "greater":
        return float(p_greater)
    return float(min(1.0, 2.0 * min(p_less, p_greater)))


def _test(a: np.ndarray, b: np.ndarray, *, n_resamples: int, rng: np.random.Generator,
          alternative: Alternative) -> PairedTest:
    d = a - b
    n = d.size
    nonzero = d[d != 0]
    n_zero = n - nonzero.size
    if nonzero.size == 0:  # identical candidates: no evidence either way
        w_stat, w_p, rbc = None, 1.0, None
    else:
        w = stats.wilcoxon(nonzero, zero_method="wilcox", alternative=alternative)
        w_stat, w_p = float(w.statistic), float(w.pvalue)
        ranks = stats.rankdata(np.abs(nonzero))
        r_plus, r_minus = ranks[nonzero > 0].sum(), ranks[nonzero < 0].sum()
        rbc = float((r_plus - r_minus) / (r_plus + r_minus))
    if nonzero.size == 0:
        perm_p = 1.0
    else:
        perm_p = _sign_flip_pvalue(d, n_resamples=n_resamples, rng=rng, alternative=alternative)
    # paired bootstrap of the mean difference: resample item indices, chunked to bound memory
    boot = np.empty(n_resamples)
    chunk = max(1, 20_000_000 // n)
    for s in range(0, n_resamples, chunk):
        m = min(chunk, n_resamples - s)
        boot[s : s + m] = d[rng.integers(0, n, size=(m, n))].mean(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return PairedTest(
        n_items=int(n), mean_a=float(a.mean()), mean_b=float(b.mean()), mean_difference=float(d.mean()),
        mean_difference_ci95=(float(lo), float(hi)), median_difference=float(np.median(d)),
        n_zero_differences=int(n_zero), wilcoxon_statistic=w_stat, wilcoxon_pvalue=w_p,
        permutation_pvalue=perm_p, rank_biserial=rbc,
    )


def _correct(pvalues: list[float], method: str) -> list[float]:
    if method == "none" or not pvalues:
        return list(pvalues)
    return [float(x) for x in multipletests(pvalues, method=method)[1]]


def paired_comparison(div_a: Any, div_b: Any, ambiguity: Any = None, *, n_resamples: int = 10000, seed: int = 0,
                      correction: str = "holm", alternative: Alternative = "two-sided",
                      levels: Sequence[str] = AMBIGUITY_LEVELS) -> PairedComparison:
    """Paired tests of per-item divergences ``div_a`` vs ``div_b`` (same items, same order), overall and per level.

    Args:
        div_a, div_b: ``(n_items,)`` per-item divergences (e.g. ``js_divergence``) of candidates A and B against
            the same reference; lower is better.
        ambiguity: optional ``(n_items,)`` level per item (one of ``levels``); adds ``per_level``.
        n_resamples: permutation and bootstrap resamples. seed: seeds both (``numpy.random.default_rng``).
        correction: multiple-comparison correction across the levels' p-values, one of ``CORRECTIONS``.
        alternative: for Wilcoxon and permutation tests, about the distribution of A − B
            ("less": A's divergences are smaller, i.e. A is better).

    Raises ``ValueError`` for different lengths, empty or non-finite input (naming the row), unknown levels or
    options.
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {list(CORRECTIONS)}, got {correction!r}")
    if alternative not in ("two-sided", "less", "greater"):
        raise ValueError(f"alternative must be one of ['two-sided', 'less', 'greater'], got {alternative!r}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    a = _as_vector(div_a, "div_a")
    b = _as_vector(div_b, "div_b")
    if a.size != b.size:
        raise ValueError(f"div_a has {a.size} items but div_b has {b.size}: the comparison is paired, item by item")
    rng = np.random.default_rng(seed)
    overall = _test(a, b, n_resamples=n_resamples, rng=rng, alternative=alternative)
    per_level: dict[str, PairedTest] = {}
    if ambiguity is not None:
        amb = check_ambiguity(ambiguity, a.size, levels=levels)
        raw = {}
        for level in levels:
            mask = amb == level
            if mask.any():
                raw[level] = _test(a[mask], b[mask], n_resamples=n_resamples, rng=rng, alternative=alternative)
        names = list(raw)
        w_corr = _correct([raw[k].wilcoxon_pvalue for k in names], correction)
        p_corr = _correct([raw[k].permutation_pvalue for k in names], correction)
        for k, wc, pc in zip(names, w_corr, p_corr):
            t = asdict(raw[k])
            t.update(wilcoxon_pvalue_corrected=wc, permutation_pvalue_corrected=pc)
            t["mean_difference_ci95"] = tuple(t["mean_difference_ci95"])
            per_level[k] = PairedTest(**t)
    return PairedComparison(overall=overall, per_level=per_level, correction=correction, alternative=alternative,
                            n_resamples=n_resamples, seed=seed)


def compare_candidates(predictions: Any, baseline_predictions: Any, references: Any, ambiguity: Any = None, *,
                       divergence: str = "js_divergence_base2", renormalize: bool = False, atol: float = DIST_ATOL,
                       n_resamples: int = 10000, seed: int = 0, correction: str = "holm",
                       alternative: Alternative = "two-sided", levels: Sequence[str] = AMBIGUITY_LEVELS
                       ) -> PairedComparison:
    """Is candidate A (``predictions``) or B (``baseline_predictions``) closer to ``references``?

    Computes the per-item ``divergence`` of each candidate and runs ``paired_comparison`` (A − B: negative favours
    A). ``predictions``, ``baseline_predictions``, ``references``: ``(n_items, n_classes)`` distributions
    (validated as in ``divergences.as_distribution_pair``; ``renormalize=True`` for counts). ``divergence``: one of
    ``DIVERGENCES`` (KL is KL(reference ‖ candidate), ε-smoothed; Bhattacharyya distance = −ln BC).

    >>> ref = [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]
    >>> res = compare_candidates([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]], [[0.6, 0.4], [0.5, 0.5], [0.9, 0.1]], ref)
    >>> res.overall.mean_difference < 0, res.divergence
    (True, 'js_divergence_base2')
    """
    if divergence not in DIVERGENCES:
        raise ValueError(f"divergence must be one of {list(DIVERGENCES)}, got {divergence!r}")
    pa, q = divergences.as_distribution_pair(predictions, references, renormalize=renormalize, atol=atol)
    try:
        pb, _ = divergences.as_distribution_pair(baseline_predictions, references, renormalize=renormalize, atol=atol)
    except ValueError as err:
        raise ValueError(str(err).replace("predictions", "baseline_predictions")) from None
    fn = DIVERGENCES[divergence]
    res = paired_comparison(fn(pa, q), fn(pb, q), ambiguity, n_resamples=n_resamples, seed=seed,
                            correction=correction, alternative=alternative, levels=levels)
    return PairedComparison(overall=res.overall, per_level=res.per_level, correction=res.correction,
                            alternative=res.alternative, n_resamples=res.n_resamples, seed=res.seed,
                            divergence=divergence)
