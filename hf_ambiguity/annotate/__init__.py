"""Synthetic perceptual proxies on datasets: :func:`annotate` (sample / expected / score modes, resumable, sharded)
adds the synthetic annotators' columns, :func:`calibrate_splits` calibrates them on the training split
(:mod:`.calibrate`), :func:`merge_dataset` merges them with the human votes (:mod:`.merge`).
``accelerate launch -m hf_ambiguity annotate DATASET ...`` runs the annotation on several processes (same arguments
as ``hf-ambiguity annotate``)."""

from __future__ import annotations

from hf_ambiguity.annotate.calibrate import CALIBRATION_KINDS, Calibration, calibrate_splits, fit_calibration
from hf_ambiguity.annotate.engine import MODES, REFERENCE_N_ANNOTATORS, AnnotateReport, annotate, default_n_annotators
from hf_ambiguity.annotate.merge import AdaptiveMerge, fit_adaptive_merge, merge_dataset, merge_votes

__all__ = [
    "annotate", "merge_dataset", "merge_votes", "fit_adaptive_merge", "AdaptiveMerge", "AnnotateReport", "MODES",
    "REFERENCE_N_ANNOTATORS", "default_n_annotators", "calibrate_splits", "fit_calibration", "Calibration",
    "CALIBRATION_KINDS",
]
