"""The one interface every annotation backend implements, and the records passed to it.

A backend answers :class:`Request` s (one utterance x one simulated annotator) in ``sample`` mode, scores
:class:`Item` s (one utterance, all classes) in ``score`` mode, and gives every annotator's exact class-answer
log-probabilities in ``expected`` mode. The engine (:mod:`hf_ambiguity.annotate`) decides which requests are still
missing (resume), batches them and stores the answers; backends only talk to a model. The prompt's wording and
structure come with every call (:class:`~hf_ambiguity.alm.prompts.PromptProtocol`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from hf_ambiguity.alm.prompts import AnnotatorSpec, PromptProtocol

__all__ = ["Item", "Request", "Annotator", "AnnotationBackendError"]


class AnnotationBackendError(RuntimeError):
    """A backend could not produce an answer (after its retries); the run stops and can be resumed. The message is
    one line saying what failed and what to do.

    ``partial`` maps positions in the failed batch to the answers that did arrive, so the engine stores them
    before stopping (nothing paid for is asked again).
    """

    def __init__(self, message: str, partial: dict[int, Any] | None = None):
        super().__init__(message)
        self.partial = dict(partial or {})


@dataclass(frozen=True)
class Item:
    """One utterance: ``audio`` is a mono float32 array at ``sampling_rate``; ``class_names`` in dataset order;
    ``corpus`` (the dataset's ``corpus`` value, "" when unknown) picks per-corpus label spellings."""

    id: str
    audio: np.ndarray = field(repr=False)
    sampling_rate: int
    transcript: str
    speaker: str
    class_names: tuple[str, ...]
    corpus: str = ""


@dataclass(frozen=True)
class Request:
    """One simulated annotator's call for one utterance; ``seed`` is the run's seed (local sampling noise)."""

    item: Item
    spec: AnnotatorSpec
    seed: int = 0


@runtime_checkable
class Annotator(Protocol):
    """What :func:`hf_ambiguity.annotate.annotate` needs from a backend.

    - ``identity``: model id + revision, or endpoint + model (part of the resume key; no secrets).
    - ``supports_score`` / ``supports_expected``: whether :meth:`score_batch` / :meth:`expected_batch` work.
    - ``annotate_batch(requests, protocol)``: the raw answer text of each request (same order); raises
      :class:`AnnotationBackendError` when an answer cannot be obtained.
    - ``score_batch(items, protocol)``: ``(len(items), n_classes)`` class log-probabilities at temperature 1 of the
      annotator-neutral prompt (no focus), in dataset class order.
    - ``expected_batch(items, specs, protocol)``: ``(len(items), len(specs), n_classes)`` log-probability that
      annotator ``specs[j]`` (its focus and temperature) answers exactly each class, in dataset class order.
    - ``provenance()``: a JSON-able dict describing the backend (no secrets).
    """

    identity: str
    supports_score: bool
    supports_expected: bool

    def annotate_batch(self, requests: Sequence[Request], protocol: PromptProtocol) -> list[str]: ...

    def score_batch(self, items: Sequence[Item], protocol: PromptProtocol) -> np.ndarray: ...

    def expected_batch(self, items: Sequence[Item], specs: Sequence[AnnotatorSpec],
                       protocol: PromptProtocol) -> np.ndarray: ...

    def provenance(self) -> dict[str, Any]: ...
