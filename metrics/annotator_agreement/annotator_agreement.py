"""Annotator agreement from per-item vote counts: Krippendorff's alpha, Fleiss' kappa, synthetic vs human.

A thin `evaluate` wrapper around ``hf_ambiguity.analysis.agreement``. Per-item inputs (``votes``; ``predictions``,
``references`` and the optional ``synthetic_labels``) are features, so they travel through ``add_batch`` (streaming,
``num_process``, ``evaluate.combine``).
"""

from __future__ import annotations

import datasets
import evaluate
from hf_ambiguity.analysis.agreement import fleiss_kappa, krippendorff_alpha, synthetic_human_agreement  # From: hf-ambiguity
from hf_ambiguity.metric_inputs import OptionalItemInputs, given_or_none  # From: hf-ambiguity

_CITATION = """\
@book{krippendorff2019content,
  title     = {Content Analysis: An Introduction to Its Methodology},
  author    = {Krippendorff, Klaus},
  edition   = {4}, publisher = {SAGE}, year = {2019}
}
@article{fleiss1971measuring,
  title   = {Measuring nominal scale agreement among many raters},
  author  = {Fleiss, Joseph L.},
  journal = {Psychological Bulletin}, volume = {76}, number = {5}, pages = {378--382}, year = {1971}
}
@inproceedings{zhang2026scaling,
  title     = {Scaling Ambiguity: Augmenting Human Annotation in Speech Emotion Recognition with Audio-Language Models},
  author    = {Zhang and Jin and Wang and Wei and Dang},
  booktitle = {ICASSP}, year = {2026}, note = {arXiv:2601.14620}
}
"""

_DESCRIPTION = """\
Inter-annotator agreement of categorical emotion labels given as per-item vote counts (one count per class), with
any number of annotators per item. Krippendorff's alpha (nominal) uses all items with at least two votes.
Fleiss' kappa needs equal counts: by default every item is subsampled (without replacement, seeded, 20 times)
to the smallest count among items with two or more votes and the mean and sd of kappa are reported
(`fleiss_scheme="modal"` instead keeps only items with the most common count; `fleiss_scheme="reference"` uses the
reference paper's estimator, each item with its own count, an item with one vote counted as agreement). Configuration
"synthetic_vs_human" takes synthetic vote counts as `predictions` and human ones as `references` and adds alpha of
the synthetic annotators and of both pooled, plurality agreement and, with `synthetic_labels`, each synthetic
annotator's agreement and Cohen's kappa with the human plurality label.
"""

_KWARGS_DESCRIPTION = """
Args (configuration "default"):
    votes (`list` of `list` of `int`): per item, the number of annotators who chose each class.
Args (configuration "synthetic_vs_human"):
    predictions (`list` of `list` of `int`): synthetic annotators' vote counts per item.
    references (`list` of `list` of `int`): human vote counts per item (same class order).
    synthetic_labels (`list` of `list` of `int`, optional): per item, the class index each synthetic annotator
        chose (-1 = no valid answer), for per-annotator agreement; a per-item input, passed with its items (for
        every item or for none); they must add up to `predictions` per item.
Both:
    fleiss_scheme (`str`, default "subsample"): "subsample", "modal" or "reference" (see the description).
    n_raters (`int`, optional): ratings per item for the subsample scheme (default: smallest count >= 2).
    n_resamples (`int`, default 20), seed (`int`, default 0): subsampling repetitions and seed.
Returns (flat scalars; the synthetic-vs-human detail nested under `synthetic`):
    `krippendorff_alpha`, `fleiss_kappa`, `fleiss_kappa_sd`, `fleiss_n_raters`, `fleiss_n_items_used`,
    `fleiss_n_items_excluded`, `fleiss_scheme`, `n_items`, `n_pairable_items`; for "synthetic_vs_human" also
    `synthetic` (`alpha_human`, `alpha_synthetic`, `alpha_pooled`, `alpha_pooled_minus_human`,
    `plurality_agreement`, `n_items_plurality`, `per_annotator`). Undefined values are None.
Examples:
    >>> import evaluate
    >>> agreement = evaluate.load("metrics/annotator_agreement")
    >>> res = agreement.compute(votes=[[3, 0, 0], [2, 1, 0], [0, 2, 1], [0, 0, 3], [1, 1, 1]])
    >>> round(res["krippendorff_alpha"], 4), round(res["fleiss_kappa"], 4)
    (0.3378, 0.2905)
    >>> pair = evaluate.load("metrics/annotator_agreement", "synthetic_vs_human")
    >>> res = pair.compute(predictions=[[2, 0], [0, 2], [2, 0]], references=[[3, 0], [1, 2], [2, 1]],
    ...                    synthetic_labels=[[0, 0], [1, 1], [0, 0]])
    >>> res["synthetic"]["plurality_agreement"], res["synthetic"]["per_annotator"][0]["agreement"]
    (1.0, 1.0)
"""

_CONFIGS = ("default", "synthetic_vs_human")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class AnnotatorAgreement(OptionalItemInputs, evaluate.Metric):
    """Krippendorff's alpha and Fleiss' kappa from vote counts; synthetic vs human agreement."""

    optional_inputs = ("synthetic_labels",)

    def _info(self) -> evaluate.MetricInfo:
        if self.config_name not in _CONFIGS:
            raise ValueError(f"configuration must be one of {list(_CONFIGS)}, got {self.config_name!r}")
        if self.config_name == "synthetic_vs_human":
            features = datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float64")),
                    "references": datasets.Sequence(datasets.Value("float64")),
                    "synthetic_labels": datasets.Sequence(datasets.Value("int64")),
                }
            )
        else:
            features = datasets.Features({"votes": datasets.Sequence(datasets.Value("float64"))})
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=features,
            reference_urls=["https://github.com/pln-fing-udelar/fast-krippendorff"],
        )

    def _compute(self, votes=None, predictions=None, references=None, synthetic_labels=None,
                 fleiss_scheme="subsample", n_raters=None, n_resamples=20, seed=0):
        human = votes if self.config_name == "default" else references
        alpha = krippendorff_alpha(human)
        kappa = fleiss_kappa(human, scheme=fleiss_scheme, n_raters=n_raters, n_resamples=n_resamples, seed=seed)
        a, k = alpha.to_dict(), kappa.to_dict()
        result = {
            "krippendorff_alpha": a["alpha"],
            "fleiss_kappa": k["kappa"],
            "fleiss_kappa_sd": k["kappa_sd"],
            "fleiss_n_raters": k["n_raters"],
            "fleiss_n_items_used": k["n_items_used"],
            "fleiss_n_items_excluded": k["n_items_excluded"],
            "fleiss_scheme": k["scheme"],
            "n_items": a["n_items"],
            "n_pairable_items": a["n_pairable_items"],
        }
        if self.config_name == "synthetic_vs_human":
            labels = given_or_none(synthetic_labels, "synthetic_labels")
            result["synthetic"] = synthetic_human_agreement(references, predictions, synthetic_labels=labels).to_dict()
        return result
