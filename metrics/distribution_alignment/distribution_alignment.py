"""Distribution alignment: how well predicted / synthetic emotion distributions match human ones.

A thin `evaluate` wrapper around ``hf_ambiguity.analysis.alignment.alignment_statistics`` (the numerical core, shared with
the rest of hf-ambiguity). ``ambiguity`` is a per-item feature, so it travels through ``add_batch`` (streaming,
``num_process``, ``evaluate.combine``) and may be left out.
"""

from __future__ import annotations

import datasets
import evaluate
from hf_ambiguity.analysis.alignment import alignment_statistics  # From: hf-ambiguity
from hf_ambiguity.distributions import DIST_ATOL  # From: hf-ambiguity
from hf_ambiguity.metric_inputs import OptionalItemInputs, given_or_none  # From: hf-ambiguity

_CITATION = """\
@inproceedings{zhang2026scaling,
  title     = {Scaling Ambiguity: Augmenting Human Annotation in Speech Emotion Recognition with Audio-Language Models},
  author    = {Zhang and Jin and Wang and Wei and Dang},
  booktitle = {ICASSP},
  year      = {2026},
  note      = {arXiv:2601.14620}
}
@article{lin1991divergence,
  title   = {Divergence measures based on the Shannon entropy},
  author  = {Lin, Jianhua},
  journal = {IEEE Transactions on Information Theory},
  volume  = {37}, number = {1}, pages = {145--151}, year = {1991}
}
"""

_DESCRIPTION = """\
Compares two sets of probability distributions over the same emotion classes item by item (`predictions`: a
model's, synthetic annotators' or merged distributions; `references`: human distributions) and reports, overall
and per ambiguity level: Jensen-Shannon divergence in base 2 (`js_divergence_base2`, range 0-1) and
Jensen-Shannon distance with natural log (`js_distance_natural`, = scipy's `jensenshannon`), Bhattacharyya
coefficient, KL divergence (reference || prediction, epsilon-smoothed), total variation distance, cosine
similarity, tie-aware top-1 agreement, argmax accuracy, macro / weighted F1 of the argmax, R^2 (sklearn
`r2_score`, uniform average over classes), 10-bin expected calibration error (argmax and soft), per-item Spearman
correlation, the Pearson correlation of entropies and mean entropies; with seeded percentile-bootstrap 95% CIs.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `float`): one probability vector per item, classes in a fixed order.
    references (`list` of `list` of `float`): the human distribution of each item, same class order.
    ambiguity (`list` of `str` or `int`, optional): per-item level, "low", "medium", "high" or its ClassLabel code
        0 / 1 / 2 (what `ds["ambiguity"]` of an hf-ambiguity dataset returns). A per-item input: pass it to
        `add_batch` with its items (or to `compute` with the items given there). Adds `per_level` results.
    n_bootstrap (`int`, default 0): bootstrap resamples for 95% confidence intervals (0 = none).
    seed (`int`, default 0): seed of the bootstrap.
    renormalize (`bool`, default False): rows are counts; divide each by its total instead of requiring sums of 1.
    atol (`float`, default 1e-4): tolerance of "sums to 1".
Returns:
    the overall statistics as flat scalars (`js_divergence_base2`, `bhattacharyya_coefficient`, ..., `n_items`,
    `spearman_undefined_items`; undefined values are None), and nested detail:
    `per_level`: dict of level -> the same statistics (empty without `ambiguity`);
    `confidence_intervals`: `{"overall": {stat: [low, high]}, "per_level": {...}}`, or None without bootstrap;
    `settings`: the options used.
Examples:
    >>> import evaluate
    >>> metric = evaluate.load("metrics/distribution_alignment")
    >>> results = metric.compute(
    ...     predictions=[[0.7, 0.2, 0.1, 0.0], [0.1, 0.1, 0.8, 0.0]],
    ...     references=[[1.0, 0.0, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0]],
    ...     ambiguity=["low", "high"],
    ... )
    >>> round(results["js_divergence_base2"], 4), round(results["bhattacharyya_coefficient"], 4)
    (0.1747, 0.8464)
    >>> results["argmax_accuracy"], results["top1_agreement"]  # human tie on item 2
    (0.5, 0.75)
    >>> results["per_level"]["high"]["n_items"]
    1
    >>> for preds, refs, levels in [([[0.7, 0.2, 0.1, 0.0]], [[1.0, 0.0, 0.0, 0.0]], [0]),   # streamed batches,
    ...                             ([[0.1, 0.1, 0.8, 0.0]], [[0.0, 0.5, 0.5, 0.0]], [2])]:  # ClassLabel codes
    ...     metric.add_batch(predictions=preds, references=refs, ambiguity=levels)
    >>> metric.compute()["per_level"]["low"]["argmax_accuracy"]
    1.0
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class DistributionAlignment(OptionalItemInputs, evaluate.Metric):
    """Alignment statistics between predicted and human emotion distributions."""

    optional_inputs = ("ambiguity",)

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float64")),
                    "references": datasets.Sequence(datasets.Value("float64")),
                    "ambiguity": datasets.Value("string"),
                }
            ),
            reference_urls=[
                "https://arxiv.org/abs/2601.14620",
                "https://docs.scipy.org/doc/scipy/reference/generated/scipy.spatial.distance.jensenshannon.html",
            ],
        )

    def _compute(self, predictions, references, ambiguity, n_bootstrap=0, seed=0, renormalize=False,
                 atol=DIST_ATOL):
        result = alignment_statistics(predictions, references, given_or_none(ambiguity, "ambiguity"),
                                      n_bootstrap=n_bootstrap, seed=seed, renormalize=renormalize, atol=atol)
        return {**result["overall"], "per_level": result["per_level"],
                "confidence_intervals": result["confidence_intervals"], "settings": result["settings"]}
