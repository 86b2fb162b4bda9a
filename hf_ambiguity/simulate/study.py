"""The simulation study: divergence from the latent truth per ambiguity level, for every merge strategy.

For a :class:`~hf_ambiguity.simulate.sampling.SimulatedCorpus` it computes the per-item Jensen–Shannon divergence
(base 2) from the latent truth of

- ``human``: the human votes alone (``votes / n``), the reference's human distribution;
- ``human+smoothing``: the ALM-free empirical-Bayes estimate (human votes plus the fitted uniform pseudo-count
  ``AdaptiveMerge.smoothing_without_alm``), which shows how much of the adaptive merge's gain is *not* the ALM;
- ``synthetic K=k``: the K synthetic votes alone;
- ``fixed λ=w K=k``: ``human + λ * synthetic`` for every λ and K of the grid (``λ = 1``: the reference concat);
- ``adaptive K=k``: :func:`hf_ambiguity.annotate.merge.fit_adaptive_merge` fitted on the human votes and the K synthetic
  votes only (no truth), then applied; ``adaptive-no-smoothing K=k`` the same with ``keep_smoothing=False``.

Ambiguity levels come from the human votes with the reference definition
(:func:`hf_ambiguity.distributions.reference_label_entropy`, equal terciles by
:func:`hf_ambiguity.distributions.tercile_levels`). Every strategy is compared with ``human`` by
:func:`hf_ambiguity.analysis.significance.paired_comparison` (per level, Holm-corrected), and each adaptive merge with the
best fixed λ of its K (chosen on the truth: an oracle the adaptive merge does not get) and with ``human+smoothing``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hf_ambiguity.progress import progress_bar as tqdm

from hf_ambiguity.analysis.divergences import js_divergence
from hf_ambiguity.distributions import reference_label_entropy, tercile_levels, votes_to_distribution
from hf_ambiguity.annotate.merge import AdaptiveMerge, fit_adaptive_merge, merge_votes
from hf_ambiguity.schema import AMBIGUITY_LEVELS
from hf_ambiguity.analysis.significance import paired_comparison
from hf_ambiguity.simulate.config import SimulationConfig
from hf_ambiguity.simulate.sampling import SimulatedCorpus, simulate_corpus

__all__ = ["StrategyResult", "Comparison", "GoalCheck", "StudyResult", "human_ambiguity_levels", "run_study",
           "evaluate_corpus"]

#: Columns of every per-level table: the three levels and all items.
GROUPS: tuple[str, ...] = (*AMBIGUITY_LEVELS, "overall")


@dataclass(frozen=True)
class StrategyResult:
    """One strategy's per-item divergence (``(n_items,)``) and its mean / standard error per group."""

    name: str
    kind: str  # human | smoothing | synthetic | fixed | adaptive | adaptive-no-smoothing
    k: int | None
    weight: float | None
    divergence: np.ndarray = field(repr=False)
    mean: dict[str, float]
    sem: dict[str, float]


@dataclass(frozen=True)
class Comparison:
    """Paired test of strategy ``a`` against ``b`` (difference = mean divergence of a minus b; < 0: a is closer).

    ``pvalue`` per group is the sign-flip permutation p-value of the mean difference, Holm-corrected over the three
    levels (``overall``: one test, uncorrected); ``ci95`` the paired-bootstrap 95 % interval of the difference.
    """

    a: str
    b: str
    difference: dict[str, float]
    pvalue: dict[str, float]
    ci95: dict[str, tuple[float, float]]

    def significantly_worse(self, alpha: float) -> list[str]:
        """Groups where ``a`` is significantly farther from the truth than ``b``."""
        return [g for g in GROUPS if self.difference[g] > 0 and self.pvalue[g] < alpha]

    def significantly_better(self, alpha: float) -> list[str]:
        """Groups where ``a`` is significantly closer to the truth than ``b``."""
        return [g for g in GROUPS if self.difference[g] < 0 and self.pvalue[g] < alpha]


@dataclass(frozen=True)
class GoalCheck:
    """The adaptive merge's goals for one K: never significantly worse than human-only in any level, and closer
    to the truth overall than the best fixed λ (significantly, at ``alpha``)."""

    k: int
    best_fixed: str
    never_worse_than_human: bool
    worse_levels: tuple[str, ...]
    beats_best_fixed: bool
    difference_vs_best_fixed: float
    pvalue_vs_best_fixed: float


@dataclass(frozen=True)
class StudyResult:
    """Everything the report needs: strategies, comparisons, goal checks, fitted adaptive parameters."""

    config: SimulationConfig
    levels: np.ndarray = field(repr=False)
    level_counts: dict[str, int]
    strategies: tuple[StrategyResult, ...]
    comparisons: tuple[Comparison, ...]
    goals: tuple[GoalCheck, ...]
    adaptive: dict[int, AdaptiveMerge]

    def strategy(self, name: str) -> StrategyResult:
        for s in self.strategies:
            if s.name == name:
                return s
        raise KeyError(f"no strategy {name!r}; have {[s.name for s in self.strategies]}")

    def comparison(self, a: str, b: str) -> Comparison:
        for c in self.comparisons:
            if c.a == a and c.b == b:
                return c
        raise KeyError(f"no comparison of {a!r} against {b!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (no per-item arrays)."""
        return {
            "config": self.config.to_dict(),
            "level_counts": self.level_counts,
            "strategies": [{"name": s.name, "kind": s.kind, "k": s.k, "weight": s.weight, "mean": s.mean,
                            "sem": s.sem} for s in self.strategies],
            "comparisons": [{"a": c.a, "b": c.b, "difference": c.difference, "pvalue": c.pvalue,
                             "ci95": {g: list(v) for g, v in c.ci95.items()}}
                            for c in self.comparisons],
            "goals": [g.__dict__ | {"worse_levels": list(g.worse_levels)} for g in self.goals],
            "adaptive": {str(k): a.__dict__ for k, a in self.adaptive.items()},
        }


def human_ambiguity_levels(human_votes: np.ndarray) -> np.ndarray:
    """Reference ambiguity levels (``(n_items,)`` of ``"low"/"medium"/"high"``) from whole-count human votes."""
    h = np.asarray(human_votes)
    k = h.shape[1]
    scores = [reference_label_entropy(np.repeat(np.arange(k), row.astype(int)).astype(str)) for row in h]
    return np.asarray(tercile_levels(scores))


def _strategy(name: str, kind: str, dist: np.ndarray, truth: np.ndarray, levels: np.ndarray, *,
              k: int | None = None, weight: float | None = None) -> StrategyResult:
    div = np.asarray(js_divergence(dist, truth), dtype=np.float64)
    mean, sem = {}, {}
    for g in GROUPS:
        d = div if g == "overall" else div[levels == g]
        mean[g] = float(d.mean()) if len(d) else float("nan")
        sem[g] = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    return StrategyResult(name, kind, k, weight, div, mean, sem)


def _compare(a: StrategyResult, b: StrategyResult, levels: np.ndarray, cfg: SimulationConfig) -> Comparison:
    """Sign-flip permutation test of the mean paired difference, per level (Holm) and overall."""
    ev = cfg.evaluation
    res = paired_comparison(a.divergence, b.divergence, levels, n_resamples=ev.n_resamples, seed=cfg.seed,
                            correction="holm")
    diff = {g: a.mean[g] - b.mean[g] for g in GROUPS}
    pval = {g: (float(res.per_level[g].permutation_pvalue_corrected) if g in res.per_level else float("nan"))
            for g in AMBIGUITY_LEVELS}
    pval["overall"] = float(res.overall.permutation_pvalue)
    ci = {g: tuple(res.per_level[g].mean_difference_ci95) if g in res.per_level else (float("nan"),) * 2
          for g in AMBIGUITY_LEVELS}
    ci["overall"] = tuple(res.overall.mean_difference_ci95)
    return Comparison(a.name, b.name, diff, pval, ci)


def evaluate_corpus(corpus: SimulatedCorpus, cfg: SimulationConfig, *, progress: bool = False) -> StudyResult:
    """Run every strategy and test of the study on an already simulated ``corpus``."""
    ev = cfg.evaluation
    h, truth = corpus.human_votes, corpus.truth
    levels = human_ambiguity_levels(h)
    strategies: list[StrategyResult] = []
    comparisons: list[Comparison] = []
    goals: list[GoalCheck] = []
    adaptive: dict[int, AdaptiveMerge] = {}

    human = _strategy("human", "human", votes_to_distribution(h), truth, levels)
    strategies.append(human)
    steps = tqdm(ev.k_values, desc="simulation: K grid", disable=not progress, unit="K")
    smoothing: StrategyResult | None = None
    for k in steps:
        s = corpus.synthetic_votes(k)
        fitted = fit_adaptive_merge(h, s)
        adaptive[k] = fitted
        if smoothing is None:
            eb = AdaptiveMerge(concentration=0.0, smoothing=fitted.smoothing_without_alm)
            smoothing = _strategy("human+smoothing", "smoothing", eb.merge(h, s).dist, truth, levels)
            strategies.append(smoothing)
            comparisons.append(_compare(smoothing, human, levels, cfg))
        synthetic = _strategy(f"synthetic K={k}", "synthetic", votes_to_distribution(s), truth, levels, k=k)
        strategies.append(synthetic)
        comparisons.append(_compare(synthetic, human, levels, cfg))
        fixed = [_strategy(f"fixed λ={w:g} K={k}", "fixed", merge_votes(h, s, strategy="weighted", weight=w).dist,
                           truth, levels, k=k, weight=w) for w in ev.lambdas]
        strategies.extend(fixed)
        ad = _strategy(f"adaptive K={k}", "adaptive", fitted.merge(h, s).dist, truth, levels, k=k)
        bare = AdaptiveMerge(concentration=fitted.concentration, entropy_reduction=fitted.entropy_reduction)
        ad0 = _strategy(f"adaptive-no-smoothing K={k}", "adaptive-no-smoothing", bare.merge(h, s).dist, truth,
                        levels, k=k)
        strategies.extend([ad, ad0])
        best = min(fixed, key=lambda r: r.mean["overall"])
        for st in (*fixed, ad, ad0):
            comparisons.append(_compare(st, human, levels, cfg))
        vs_best = _compare(ad, best, levels, cfg)
        comparisons.extend([vs_best, _compare(ad0, best, levels, cfg), _compare(ad, smoothing, levels, cfg)])
        vs_human = next(c for c in comparisons if c.a == ad.name and c.b == "human")
        worse = tuple(g for g in vs_human.significantly_worse(ev.alpha) if g != "overall")
        goals.append(GoalCheck(
            k=k, best_fixed=best.name, never_worse_than_human=not worse, worse_levels=worse,
            beats_best_fixed=vs_best.difference["overall"] < 0 and vs_best.pvalue["overall"] < ev.alpha,
            difference_vs_best_fixed=vs_best.difference["overall"], pvalue_vs_best_fixed=vs_best.pvalue["overall"],
        ))
    counts = {g: int((levels == g).sum()) for g in AMBIGUITY_LEVELS}
    return StudyResult(cfg, levels, counts, tuple(strategies), tuple(comparisons), tuple(goals), adaptive)


def run_study(cfg: SimulationConfig, *, progress: bool = False) -> StudyResult:
    """Simulate a corpus for ``cfg`` and evaluate it (:func:`evaluate_corpus`). Same config → same result."""
    return evaluate_corpus(simulate_corpus(cfg), cfg, progress=progress)
