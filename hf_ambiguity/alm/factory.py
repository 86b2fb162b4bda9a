"""The annotator a configuration names: a local transformers ALM or a hosted API, by backend name."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

__all__ = ["BACKENDS", "make_annotator"]

#: Annotation backends, by the name configs and the CLI use.
BACKENDS = ("transformers", "gemini", "openai")


def make_annotator(opt: Mapping[str, Any], model_dir: Path | None) -> Any:
    """The :class:`hf_ambiguity.alm.base.Annotator` a config's ``annotate`` section names (``backend``, ``model``,
    ``device``, ``trust_remote_code``, ``base_url``; optional ``dtype``, ``top_logprobs``); ``model: tiny`` means the
    local folder ``model_dir``."""
    if opt["backend"] == "transformers":
        from hf_ambiguity.alm.local import TransformersAnnotator

        model = str(model_dir) if opt["model"] == "tiny" else opt["model"]
        return TransformersAnnotator(model, device=opt.get("device"), dtype=opt.get("dtype"),
                                     trust_remote_code=opt.get("trust_remote_code", False))
    from hf_ambiguity.alm import hosted

    if opt["backend"] == "gemini":
        return hosted.GeminiAnnotator(opt["model"])
    kwargs = {"base_url": opt["base_url"]} if opt.get("base_url") else {}
    if opt.get("top_logprobs"):
        kwargs["top_logprobs"] = int(opt["top_logprobs"])
    return hosted.OpenAICompatibleAnnotator(opt["model"], **kwargs)
