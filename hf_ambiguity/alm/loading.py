"""Loading an audio-language model (ALM) and its processor with transformers, and turning utterances into inputs.

Supported families (transformers-native, no remote code): Qwen2-Audio (``qwen2_audio``, e.g.
``Qwen/Qwen2-Audio-7B-Instruct``) and Audio Flamingo 3 (``audioflamingo3``, e.g. ``nvidia/audio-flamingo-3-hf``), both
through the same two-step input path — the processor's chat template to text, then ``processor(text=..., audio=...)``
— and both tested on tiny random-weight checkpoints (:mod:`hf_ambiguity.tiny_alm`); the real checkpoints' chat
templates come with them and were not run here (no download, no GPU). Another
model type is refused with the list of supported ones unless ``trust_remote_code=True`` is given, in which case the
``AutoModelForImageTextToText``/``AutoModelForCausalLM`` class and the same input path are tried.

Precision: bfloat16 on GPU, float32 on CPU, unless ``dtype`` says otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

__all__ = ["LoadedALM", "load_alm", "SUPPORTED_FAMILIES", "build_inputs", "resolve_device", "resolve_dtype"]

#: model_type -> transformers model class name
SUPPORTED_FAMILIES: dict[str, str] = {
    "qwen2_audio": "Qwen2AudioForConditionalGeneration",
    "audioflamingo3": "AudioFlamingo3ForConditionalGeneration",
}


@dataclass(frozen=True)
class LoadedALM:
    """A loaded model + processor and where they came from (for provenance)."""

    model: Any = field(repr=False)
    processor: Any = field(repr=False)
    model_id: str
    revision: str | None
    family: str
    device: str
    dtype: str

    @property
    def sampling_rate(self) -> int:
        return int(getattr(self.processor.feature_extractor, "sampling_rate", 16000))


def resolve_device(device: str | None) -> str:
    """``None`` -> ``"cuda"`` when available, else ``"cpu"``."""
    import torch

    if device:
        return str(device)
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: Any, device: str):
    """``None`` -> bfloat16 on GPU, float32 on CPU; strings like ``"bf16"``/``"float16"`` accepted."""
    import torch

    if dtype is None:
        return torch.float32 if device.startswith("cpu") else torch.bfloat16
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
             "half": torch.float16, "fp32": torch.float32, "float32": torch.float32, "float": torch.float32}
    try:
        return names[str(dtype).lower()]
    except KeyError:
        raise ValueError(f"dtype must be one of {sorted(names)}, got {dtype!r}") from None


def _revision_of(model_id: str, config: Any, revision: str | None) -> str | None:
    commit = getattr(config, "_commit_hash", None)
    if commit:
        return str(commit)
    return revision


def load_alm(model_id_or_path: str | os.PathLike, *, device: str | None = None, dtype: Any = None,
             trust_remote_code: bool = False, revision: str | None = None) -> LoadedALM:
    """Load an ALM and its processor from a Hub id or a local folder (``from_pretrained``), in eval mode.

    Raises ``ValueError`` for a model type outside :data:`SUPPORTED_FAMILIES` (unless ``trust_remote_code``).
    """
    import transformers
    from transformers import AutoConfig, AutoProcessor

    model_id = str(model_id_or_path)
    config = AutoConfig.from_pretrained(model_id, revision=revision, trust_remote_code=trust_remote_code)
    family = getattr(config, "model_type", "")
    if family in SUPPORTED_FAMILIES:
        model_cls = getattr(transformers, SUPPORTED_FAMILIES[family])
    elif trust_remote_code:
        model_cls = getattr(transformers, "AutoModelForImageTextToText", None) or transformers.AutoModelForCausalLM
    else:
        raise ValueError(
            f"model {model_id!r} has model_type {family!r}; supported audio-language families are "
            f"{sorted(SUPPORTED_FAMILIES)} (pass trust_remote_code=True to try another model at your own risk)"
        )
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    processor = AutoProcessor.from_pretrained(model_id, revision=revision, trust_remote_code=trust_remote_code)
    model = model_cls.from_pretrained(model_id, revision=revision, dtype=torch_dtype,
                                      trust_remote_code=trust_remote_code)
    model.to(dev).eval()
    tok = getattr(processor, "tokenizer", None)
    if tok is not None:
        tok.padding_side = "left"  # batched generation continues every row from its last real token
    return LoadedALM(model, processor, model_id, _revision_of(model_id, config, revision), family, dev,
                     str(torch_dtype).replace("torch.", ""))


def build_inputs(alm: LoadedALM, conversations: Sequence[list[dict[str, Any]]], audios: Sequence[np.ndarray]):
    """Processor inputs (left-padded batch tensors on the model's device) for chat ``conversations``, one audio each.

    Each conversation is the output of :func:`hf_ambiguity.alm.prompts.build_messages`; ``audios`` are mono float32
    arrays at :attr:`LoadedALM.sampling_rate`.
    """
    if len(conversations) != len(audios):
        raise ValueError(f"got {len(conversations)} conversations but {len(audios)} audio clips; pass one each")
    proc = alm.processor
    texts = [proc.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations]
    # padding applies to the text only: audio features keep each family's own padding (Whisper-style fixed windows)
    inputs = proc(text=texts, audio=[np.asarray(a, dtype=np.float32) for a in audios],
                  sampling_rate=alm.sampling_rate, text_kwargs={"padding": True, "padding_side": "left"},
                  return_tensors="pt")
    inputs = inputs.to(alm.model.device)
    float_keys = [k for k in inputs if k == "input_features"]
    for k in float_keys:
        inputs[k] = inputs[k].to(alm.model.dtype)
    return inputs
