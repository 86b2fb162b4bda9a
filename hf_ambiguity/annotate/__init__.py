"""Synthetic perceptual proxies on datasets: :func:`annotate` (sample / score modes, resumable, sharded) and
:func:`merge` (human + synthetic votes). Run ``accelerate launch -m hf_ambiguity.annotate DATASET ...`` for a
multi-process run (same arguments as ``hf-ambiguity annotate``)."""

from __future__ import annotations

from hf_ambiguity.annotate.engine import MODES, AnnotateReport, annotate, merge
from hf_ambiguity.annotate.provenance import add_provenance_to_card, attach_provenance, read_provenance

__all__ = [
    "annotate", "merge", "AnnotateReport", "MODES", "read_provenance", "attach_provenance", "add_provenance_to_card",
]
