"""hf-ambiguity: ambiguous speech emotion recognition on the Hugging Face stack.

Corpus readers (IEMOCAP, MSP-Podcast) that keep every annotator's answer, human and ALM-generated emotion
distributions, distribution-alignment statistics, DiME-Aug balancing and distribution fine-tuning of
audio-language models (arXiv 2601.14620, "Scaling Ambiguity").
"""

__version__ = "0.1.0"
