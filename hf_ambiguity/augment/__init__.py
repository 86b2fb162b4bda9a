"""DiME-Aug (distribution-aware multimodal emotion augmentation), training-time balancing and balanced evaluation.

- :func:`dime_aug` tops up under-represented dominant emotions (or emotion × ambiguity cells) of a training split
  by interpolating neighbouring utterances in the feature space of :mod:`hf_ambiguity.augment.dime_features`;
  :func:`hf_ambiguity.splits.split_train_validation` takes validation out first.
- :mod:`hf_ambiguity.augment.sampler`: weighted-sampler weights with per-class multipliers and on-the-fly audio
  augmentation for the training loop.
- :func:`balanced_eval_view`: a stratified, class- and ambiguity-balanced view of a test split, with per-cell weights.
"""

from __future__ import annotations

from hf_ambiguity.augment.balanced_eval import BalancedEvalView, CellWeights, balanced_eval_view
from hf_ambiguity.augment.dime import AugmentReport, dime_aug, mark_originals
from hf_ambiguity.augment.sampler import (RandomAudioAugment, class_sample_weights, dataset_sample_weights,
                                          weighted_sampler)

__all__ = ["AugmentReport", "BalancedEvalView", "CellWeights", "RandomAudioAugment", "balanced_eval_view",
           "class_sample_weights", "dataset_sample_weights", "dime_aug", "mark_originals",
           "weighted_sampler"]
