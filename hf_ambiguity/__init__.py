"""hf-ambiguity: ambiguous speech emotion recognition on the Hugging Face stack.

Corpus readers (IEMOCAP, MSP-Podcast) that keep every annotator's answer, human and ALM-generated emotion
distributions, distribution-alignment statistics, DiME-Aug balancing and distribution fine-tuning of
audio-language models (arXiv 2601.14620, "Scaling Ambiguity"). The package reads in the order data flows: the base
(``labels``, ``distributions``, ``audio``, ``splits``, ``config``, ``errors``, ``files``, ``provenance``,
``schema``), then ``corpora`` → ``builders`` / ``hub`` → ``alm`` / ``annotate`` → ``analysis`` → ``augment`` →
``training`` → ``simulate``, and the glue (``pipeline``, ``commands``, ``cli``). A fine-tuned model is used through
:func:`hf_ambiguity.training.load_trained` and :func:`hf_ambiguity.training.predict_distributions`.
"""

__version__ = "0.1.0"
