"""Alignment test: is one candidate set of distributions significantly closer to the reference than another?

A thin `evaluate` wrapper around ``hf_ambiguity.analysis.significance.compare_candidates``.
"""

from __future__ import annotations

import datasets
import evaluate
from hf_ambiguity.distributions import DIST_ATOL  # From: hf-ambiguity
from hf_ambiguity.analysis.significance import compare_candidates  # From: hf-ambiguity

_CITATION = """\
@inproceedings{zhang2026scaling,
  title     = {Scaling Ambiguity: Augmenting Human Annotation in Speech Emotion Recognition with Audio-Language Models},
  author    = {Zhang and Jin and Wang and Wei and Dang},
  booktitle = {ICASSP},
  year      = {2026},
  note      = {arXiv:2601.14620}
}
@article{wilcoxon1945individual,
  title   = {Individual comparisons by ranking methods},
  author  = {Wilcoxon, Frank},
  journal = {Biometrics Bulletin}, volume = {1}, number = {6}, pages = {80--83}, year = {1945}
}
@article{holm1979simple,
  title   = {A simple sequentially rejective multiple test procedure},
  author  = {Holm, Sture},
  journal = {Scandinavian Journal of Statistics}, volume = {6}, number = {2}, pages = {65--70}, year = {1979}
}
"""

_DESCRIPTION = """\
Paired comparison of two candidate distribution sets against the same reference distributions, e.g. human-only
vs human + synthetic labels scored against held-out annotators. For every item the divergence of each candidate
to the reference is computed (default: Jensen-Shannon divergence, base 2); the per-item differences (candidate
`predictions` minus `baseline_predictions`; negative = `predictions` closer) are tested overall and per ambiguity
level with the Wilcoxon signed-rank test and a sign-flip permutation test of the mean, with the matched-pairs
rank-biserial correlation and a paired-bootstrap 95% CI of the mean difference as effect sizes. p-values of the
levels are corrected for multiple comparisons (Holm by default).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `float`): candidate A, one distribution per item.
    baseline_predictions (`list` of `list` of `float`): candidate B, same items and class order.
    references (`list` of `list` of `float`): reference (human) distributions.
    ambiguity (`list` of `str`, optional): per-item level ("low", "medium", "high"); adds `per_level`.
    divergence (`str`, default "js_divergence_base2"): per-item divergence, one of "js_divergence_base2",
        "js_distance_natural", "total_variation_distance", "kl_divergence_natural", "bhattacharyya_distance".
    n_resamples (`int`, default 10000): permutation and bootstrap resamples.
    seed (`int`, default 0): seed of the resampling.
    correction (`str`, default "holm"): statsmodels `multipletests` method across levels, or "none".
    alternative (`str`, default "two-sided"): "two-sided", "less" (A has smaller divergences) or "greater".
    renormalize (`bool`, default False): rows are counts, divide by their totals.
    atol (`float`, default 1e-4): tolerance of "sums to 1".
Returns:
    `overall` and `per_level[level]`: `n_items`, `mean_a`, `mean_b`, `mean_difference` (A - B),
    `mean_difference_ci95`, `median_difference`, `n_zero_differences`, `wilcoxon_statistic`, `wilcoxon_pvalue`,
    `permutation_pvalue`, `rank_biserial`, and for levels `wilcoxon_pvalue_corrected`,
    `permutation_pvalue_corrected`; plus `correction`, `alternative`, `n_resamples`, `seed`, `divergence`.
Examples:
    >>> import evaluate
    >>> test = evaluate.load("metrics/alignment_test")
    >>> refs = [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [1.0, 0.0], [0.0, 1.0], [0.6, 0.4]]
    >>> good = [[0.9, 0.1], [0.1, 0.9], [0.5, 0.5], [0.8, 0.2], [0.2, 0.8], [0.6, 0.4]]
    >>> poor = [[0.5, 0.5], [0.5, 0.5], [0.9, 0.1], [0.5, 0.5], [0.6, 0.4], [0.1, 0.9]]
    >>> res = test.compute(predictions=good, baseline_predictions=poor, references=refs, n_resamples=1000)
    >>> res["overall"]["mean_difference"] < 0, res["overall"]["rank_biserial"]
    (True, -1.0)
    >>> res["overall"]["permutation_pvalue"], res["overall"]["wilcoxon_pvalue"]  # exact over all 2**6 sign patterns
    (0.03125, 0.03125)
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class AlignmentTest(evaluate.Metric):
    """Paired significance test of two candidates' divergences to the same reference distributions."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float64")),
                    "baseline_predictions": datasets.Sequence(datasets.Value("float64")),
                    "references": datasets.Sequence(datasets.Value("float64")),
                }
            ),
            reference_urls=["https://arxiv.org/abs/2601.14620"],
        )

    def _compute(self, predictions, baseline_predictions, references, ambiguity=None,
                 divergence="js_divergence_base2", n_resamples=10000, seed=0, correction="holm",
                 alternative="two-sided", renormalize=False, atol=DIST_ATOL):
        result = compare_candidates(predictions, baseline_predictions, references, ambiguity, divergence=divergence,
                                    renormalize=renormalize, atol=atol, n_resamples=n_resamples, seed=seed,
                                    correction=correction, alternative=alternative)
        return result.to_dict()
