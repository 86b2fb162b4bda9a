"""Alignment test: is one candidate set of distributions significantly closer to the reference than another?

A thin `evaluate` wrapper around ``hf_ambiguity.analysis.significance.compare_candidates``. ``ambiguity`` is a per-item
feature, so it travels through ``add_batch`` (streaming, ``num_process``, ``evaluate.combine``) and may be left out.
"""

from __future__ import annotations

import datasets
import evaluate
from hf_ambiguity.distributions import DIST_ATOL  # From: hf-ambiguity
from hf_ambiguity.analysis.significance import compare_candidates  # From: hf-ambiguity
from hf_ambiguity.metric_inputs import OptionalItemInputs, given_or_none  # From: hf-ambiguity

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
    ambiguity (`list` of `str` or `int`, optional): per-item level ("low", "medium", "high", or the ClassLabel code
        0 / 1 / 2 that `ds["ambiguity"]` returns); a per-item input, passed with its items. Adds `per_level`.
    divergence (`str`, default "js_divergence_base2"): per-item divergence, one of "js_divergence_base2",
        "js_distance_natural", "total_variation_distance", "kl_divergence_natural", "bhattacharyya_distance".
    n_resamples (`int`, default 10000): permutation and bootstrap resamples.
    seed (`int`, default 0): seed of the resampling.
    correction (`str`, default "holm"): statsmodels `multipletests` method across levels, or "none".
    alternative (`str`, default "two-sided"): "two-sided", "less" (A has smaller divergences) or "greater".
    renormalize (`bool`, default False): rows are counts, divide by their totals.
    atol (`float`, default 1e-4): tolerance of "sums to 1".
Returns:
    flat scalars for all items: `n_items`, `mean_a`, `mean_b`, `mean_difference` (A - B),
    `mean_difference_ci95_low`, `mean_difference_ci95_high`, `median_difference`, `n_zero_differences`,
    `wilcoxon_statistic`, `wilcoxon_pvalue`, `permutation_pvalue`, `rank_biserial`; the settings `correction`,
    `alternative`, `n_resamples`, `seed`, `divergence`; and nested `per_level[level]` with the same statistics
    (`mean_difference_ci95` as `[low, high]`) plus `wilcoxon_pvalue_corrected`, `permutation_pvalue_corrected`.
Examples:
    >>> import evaluate
    >>> test = evaluate.load("metrics/alignment_test")
    >>> refs = [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [1.0, 0.0], [0.0, 1.0], [0.6, 0.4]]
    >>> good = [[0.9, 0.1], [0.1, 0.9], [0.5, 0.5], [0.8, 0.2], [0.2, 0.8], [0.6, 0.4]]
    >>> poor = [[0.5, 0.5], [0.5, 0.5], [0.9, 0.1], [0.5, 0.5], [0.6, 0.4], [0.1, 0.9]]
    >>> res = test.compute(predictions=good, baseline_predictions=poor, references=refs, n_resamples=1000)
    >>> res["mean_difference"] < 0, res["rank_biserial"]
    (True, -1.0)
    >>> res["permutation_pvalue"], res["wilcoxon_pvalue"]  # exact over all 2**6 sign patterns
    (0.03125, 0.03125)
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class AlignmentTest(OptionalItemInputs, evaluate.Metric):
    """Paired significance test of two candidates' divergences to the same reference distributions."""

    optional_inputs = ("ambiguity",)

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
                    "ambiguity": datasets.Value("string"),
                }
            ),
            reference_urls=["https://arxiv.org/abs/2601.14620"],
        )

    def _compute(self, predictions, baseline_predictions, references, ambiguity,
                 divergence="js_divergence_base2", n_resamples=10000, seed=0, correction="holm",
                 alternative="two-sided", renormalize=False, atol=DIST_ATOL):
        result = compare_candidates(predictions, baseline_predictions, references,
                                    given_or_none(ambiguity, "ambiguity"), divergence=divergence,
                                    renormalize=renormalize, atol=atol, n_resamples=n_resamples, seed=seed,
                                    correction=correction, alternative=alternative).to_dict()
        overall = {k: v for k, v in result.pop("overall").items() if not k.endswith("_corrected")}
        low, high = overall.pop("mean_difference_ci95")
        return {**overall, "mean_difference_ci95_low": low, "mean_difference_ci95_high": high,
                **{k: v for k, v in result.items() if k != "per_level"}, "per_level": result["per_level"]}
