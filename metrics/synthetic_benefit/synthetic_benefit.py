"""Synthetic benefit: do synthetic (ALM) emotion distributions help predict what a new human rater will say?

A thin `evaluate` wrapper around ``hf_ambiguity.analysis.synthetic_benefit.synthetic_benefit`` (the numerical core,
shared with the rest of hf-ambiguity): a held-out-annotator test with proper scoring rules, cross-fitted smoothing
baseline, strata from the remaining labels, item bootstrap and permutation tests.
"""

from __future__ import annotations

import datasets
import evaluate
from hf_ambiguity.analysis.synthetic_benefit import synthetic_benefit  # From: hf-ambiguity
from hf_ambiguity.distributions import DEFAULT_AMBIGUITY_CUTS  # From: hf-ambiguity
from hf_ambiguity.distributions import DIST_ATOL  # From: hf-ambiguity

_CITATION = """\
@inproceedings{zhang2026scaling,
  title     = {Scaling Ambiguity: Augmenting Human Annotation in Speech Emotion Recognition with Audio-Language Models},
  author    = {Zhang and Jin and Wang and Wei and Dang},
  booktitle = {ICASSP},
  year      = {2026},
  note      = {arXiv:2601.14620}
}
@article{gneiting2007strictly,
  title   = {Strictly Proper Scoring Rules, Prediction, and Estimation},
  author  = {Gneiting, Tilmann and Raftery, Adrian E.},
  journal = {Journal of the American Statistical Association},
  volume  = {102}, number = {477}, pages = {359--378}, year = {2007}
}
@article{chernozhukov2018double,
  title   = {Double/debiased machine learning for treatment and structural parameters},
  author  = {Chernozhukov, Victor and Chetverikov, Denis and Demirer, Mert and Duflo, Esther and Hansen, Christian
             and Newey, Whitney and Robins, James},
  journal = {The Econometrics Journal},
  volume  = {21}, number = {1}, pages = {C1--C68}, year = {2018}
}
"""

_DESCRIPTION = """\
Held-out-annotator test of whether synthetic (e.g. audio-language-model) emotion distributions improve the
estimate of an utterance's human emotion distribution. For every item, each human label in turn is held out
(or, with `design="split_half"`, one random half of the raters is held out); the remaining labels forecast it,
once alone (smoothed toward the human class frequencies by a pseudo-count: the ALM-free baseline) and once merged
with the synthetic distribution (with its own pseudo-count). Forecasts are scored with the Brier score and the
log-loss (strictly proper); every pseudo-count and weight is fitted on other items (cross-fitting by folds).
Per ambiguity stratum (from the remaining labels, never from the held-out one) and overall it reports the mean
score difference (candidate - baseline; negative = the synthetic distribution helps) with a bootstrap CI over
items, Wilcoxon and sign-flip permutation p-values (Holm across strata) and a verdict: "helps", "hurts" or
"no detectable difference" (decided by the CI; per-stratum CIs Bonferroni-adjusted), optionally non-inferiority
with a margin.
"""

_KWARGS_DESCRIPTION = """
Args:
    human_labels (`list` of `list` of `int`): per item, the class index of every human label (one per annotator;
        rows may differ in length). Items with fewer than 2 labels (split-half: 4) are skipped and counted.
    synthetic (`list` of `list` of `float`): per item, a distribution over the classes (normalised synthetic votes
        or a score-mode distribution); an empty or all-zero row = no synthetic distribution (skipped and counted).
    n_classes (`int`, optional): number of classes (default: the length of the synthetic rows).
    merge (`str`, default "weighted"): "weighted" (synthetic weight cross-fitted), "concat" (needs
        `synthetic_weight`, in votes) or "adaptive" (hf_ambiguity's empirical-Bayes merge, cross-fitted).
    synthetic_weight (`float`, optional): votes the synthetic distribution counts for with merge="concat".
    design (`str`, default "leave_one_out"): or "split_half" (items with >= 4 raters).
    strata (`str`, default "entropy"): "entropy" (fixed `cuts` on the normalised entropy of the remaining labels),
        "reference" (the paper's ambiguity definition of the remaining labels, terciles) or "none".
    cuts (`list` of 2 `float`, default [0.33, 0.66]): cut points of the "entropy" strata.
    primary (`str`, default "brier"): the score that decides the verdict, "brier" or "log_loss".
    smoothing_target (`str`, default "marginal"): pseudo-counts shrink toward the human class frequencies of the
        training folds ("marginal") or toward the uniform distribution ("uniform").
    n_folds (`int`, default 5), seed (`int`, default 0), n_resamples (`int`, default 2000), alpha (`float`,
        default 0.05), margin (`float`, optional: non-inferiority margin in units of the primary score),
        min_items (`int`, default 20: fewer items in a group gives "too few items"), atol (`float`, 1e-4).
Returns:
    flat scalars of the overall comparison (`verdict`, `mean_difference`, `ci_low`, `ci_high`,
    `permutation_pvalue`, `wilcoxon_pvalue`, `n_items`, `non_inferiority`), then the detail:
    `overall` and `per_stratum[level]`: `verdict`, `mean_difference`, `confidence_interval`, `confidence_level`,
    `wilcoxon_pvalue`, `permutation_pvalue` (and `_holm` versions for strata), `non_inferiority`, `n_items`,
    `n_pairs`, and `scores` with the same for "brier" and "log_loss" (plus the mean baseline and candidate
    scores); `settings` (every option, the item counts, the CI levels); `fits` (what was fitted per fold and
    stratum, on how many items).
Examples:
    >>> import evaluate
    >>> metric = evaluate.load("metrics/synthetic_benefit")
    >>> results = metric.compute(
    ...     human_labels=[[0, 0, 1], [2, 2, 2, 1], [1, 1, 3], [3, 3, 0, 3]] * 10,
    ...     synthetic=[[0.7, 0.2, 0.05, 0.05], [0.0, 0.2, 0.8, 0.0], [0.1, 0.8, 0.0, 0.1], [0.1, 0.0, 0.0, 0.9]] * 10,
    ...     n_classes=4, strata="none", n_resamples=500,
    ... )
    >>> results["overall"]["verdict"], results["overall"]["n_items"], results["overall"]["mean_difference"] < 0
    ('helps', 40, True)
    >>> sorted(results["overall"]["scores"])
    ['brier', 'log_loss']
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SyntheticBenefit(evaluate.Metric):
    """Held-out-annotator test of synthetic emotion distributions against an ALM-free smoothing baseline."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "human_labels": datasets.Sequence(datasets.Value("int32")),
                    "synthetic": datasets.Sequence(datasets.Value("float64")),
                }
            ),
            reference_urls=["https://arxiv.org/abs/2601.14620", "https://doi.org/10.1198/016214506000001437"],
        )

    def _compute(self, human_labels, synthetic, n_classes=None, merge="weighted", synthetic_weight=None,
                 design="leave_one_out", strata="entropy", cuts=DEFAULT_AMBIGUITY_CUTS, primary="brier",
                 smoothing_target="marginal", n_folds=5, seed=0, n_resamples=2000, alpha=0.05, margin=None,
                 min_items=20, atol=DIST_ATOL):
        if n_classes is None:
            lengths = {len(row) for row in synthetic if row}
            if len(lengths) != 1:
                raise ValueError("n_classes is not given and the synthetic rows do not share one length "
                                 f"(lengths {sorted(lengths)}); pass n_classes=")
            n_classes = lengths.pop()
        result = synthetic_benefit(
            human_labels, synthetic, n_classes, merge=merge, synthetic_weight=synthetic_weight, design=design,
            strata=strata, cuts=tuple(cuts), primary=primary, smoothing_target=smoothing_target, n_folds=n_folds,
            seed=seed, n_resamples=n_resamples, alpha=alpha, margin=margin, min_items=min_items, atol=atol,
        ).to_dict()
        overall = result["overall"]
        ci = overall["confidence_interval"] or [None, None]
        flat = {"verdict": overall["verdict"], "mean_difference": overall["mean_difference"], "ci_low": ci[0],
                "ci_high": ci[1], "permutation_pvalue": overall["permutation_pvalue"],
                "wilcoxon_pvalue": overall["wilcoxon_pvalue"], "n_items": overall["n_items"],
                "non_inferiority": (overall.get("non_inferiority") or {}).get("verdict")}
        return {**flat, **result}
