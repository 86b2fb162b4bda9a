"""Audio-language models as simulated emotion annotators: loading, the prompt protocols (project or reference structure), parsing, scoring, backends.

- :mod:`~hf_ambiguity.alm.prompts`: the annotation prompt (:class:`PromptProtocol`: wording, structure, prompt files),
  foci and temperatures (project or reference scheme).
- :mod:`~hf_ambiguity.alm.parsing`: answer text -> label (exact, then substring; project or reference rule) or ``None``.
- :mod:`~hf_ambiguity.alm.loading`: ``load_alm`` (every transformers audio-language family, Hub id or local folder)
  and processor inputs.
- :mod:`~hf_ambiguity.alm.scoring`: exact class-answer probabilities (``score`` and ``expected`` modes, label-token
  head).
- backends behind one :class:`~hf_ambiguity.alm.base.Annotator` interface: :class:`TransformersAnnotator`
  (:mod:`.local`), :class:`OpenAICompatibleAnnotator` and :class:`GeminiAnnotator` (:mod:`.hosted`).
"""

from __future__ import annotations

from hf_ambiguity.alm.base import AnnotationBackendError, Annotator, Item, Request
from hf_ambiguity.alm.loading import LoadedALM, load_alm
from hf_ambiguity.alm.parsing import parse_answer
from hf_ambiguity.alm.prompts import (AnnotatorSpec, PromptProtocol, annotator_specs, load_prompt_file, prompt_hash,
                                      prompt_protocol)

__all__ = [
    "AnnotationBackendError", "Annotator", "Item", "Request", "LoadedALM", "load_alm", "parse_answer",
    "AnnotatorSpec", "PromptProtocol", "annotator_specs", "load_prompt_file", "prompt_hash", "prompt_protocol",
    "TransformersAnnotator", "OpenAICompatibleAnnotator", "GeminiAnnotator",
]


def __getattr__(name: str):  # backends are imported lazily: torch/transformers or google-genai only when used
    if name == "TransformersAnnotator":
        from hf_ambiguity.alm.local import TransformersAnnotator

        return TransformersAnnotator
    if name in ("OpenAICompatibleAnnotator", "GeminiAnnotator"):
        from hf_ambiguity.alm import hosted

        return getattr(hosted, name)
    raise AttributeError(name)
