"""hf-ambiguity: ambiguous speech emotion recognition on the Hugging Face stack.

Corpus readers (IEMOCAP, MSP-Podcast) that keep every annotator's answer, human and ALM-generated emotion
distributions, distribution-alignment statistics, DiME-Aug balancing and distribution fine-tuning of
audio-language models (arXiv 2601.14620, "Scaling Ambiguity").
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """Lazy top-level access to the fine-tuned model API (torch/transformers load only when it is used)."""
    if name in ("predict_distributions", "load_trained"):
        from hf_ambiguity.training import predict as _predict

        return getattr(_predict, name)
    raise AttributeError(f"module 'hf_ambiguity' has no attribute {name!r}")
