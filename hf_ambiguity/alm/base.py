"""The one interface every annotation backend implements, and the records passed to it.

A backend answers :class:`Request` s (one utterance x one simulated annotator) in ``sample`` mode and scores
:class:`Item` s (one utterance, all classes) in ``score`` mode. The engine (:mod:`hf_ambiguity.annotate`) decides which
requests are still missing (resume), batches them and stores the answers; backends only talk to a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from hf_ambiguity.alm.prompts import AnnotatorSpec

__all__ = ["Item", "Request", "Annotator", "AnnotationBackendError"]


class AnnotationBackendError(RuntimeError):
    """A backend could not produce an answer (after its retries); the run stops and can be resumed.

    ``partial`` maps positions in the failed batch to the answers that did arrive, so the engine stores them
    before stopping (nothing paid for is asked again).
    """

    def __init__(self, message: str, partial: dict[int, str] | None = None):
        super().__init__(message)
        self.partial = dict(partial or {})


@dataclass(frozen=True)
class Item:
    """One utterance: ``audio`` is a mono float32 array at ``sampling_rate``; ``class_names`` in dataset order."""

    id: str
    audio: np.ndarray = field(repr=False)
    sampling_rate: int
    transcript: str
    speaker: str
    class_names: tuple[str, ...]


@dataclass(frozen=True)
class Request:
    """One simulated annotator's call for one utterance; ``seed`` is the run's seed (local sampling noise)."""

    item: Item
    spec: AnnotatorSpec
    seed: int = 0


@runtime_checkable
class Annotator(Protocol):
    """What :func:`hf_ambiguity.annotate.annotate` needs from a backend.

    - ``identity``: model id + revision, or endpoint + model (part of the resume key).
    - ``supports_score``: whether :meth:`score_batch` works (local models only).
    - ``annotate_batch(requests)``: the raw answer text of each request (same order); raises
      :class:`AnnotationBackendError` when an answer cannot be obtained.
    - ``score_batch(items)``: ``(len(items), n_classes)`` class log-probabilities (``score`` mode).
    - ``provenance()``: a JSON-able dict describing the backend (no secrets).
    """

    identity: str
    supports_score: bool

    def annotate_batch(self, requests: Sequence[Request]) -> list[str]: ...

    def score_batch(self, items: Sequence[Item]) -> np.ndarray: ...

    def provenance(self) -> dict[str, Any]: ...
