"""Synthetic perceptual proxies on datasets: :func:`annotate` (sample / score modes, resumable, sharded) and
:func:`merge` (human + synthetic votes). Run ``accelerate launch -m hf_ambiguity.annotate DATASET ...`` for a
multi-process run (same arguments as ``hf-ambiguity annotate``)."""

from __future__ import annotations

from hf_ambiguity.annotate.engine import (
    MODES, REFERENCE_N_ANNOTATORS, AnnotateReport, annotate, default_n_annotators, merge,
)
from hf_ambiguity.annotate.provenance import add_provenance_to_card, attach_provenance, read_provenance

__all__ = [
    "annotate", "merge", "AnnotateReport", "MODES", "REFERENCE_N_ANNOTATORS", "default_n_annotators",
    "read_provenance", "attach_provenance", "add_provenance_to_card",
]
