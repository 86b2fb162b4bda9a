"""Loading an audio-language model (ALM) and its processor with transformers, and turning prompts into inputs.

Supported families (:data:`FAMILIES`: transformers-native, no remote code; each takes audio and answers in text):
Qwen2-Audio, Qwen2.5-Omni (its text-producing "thinker" alone; the speech generator is not loaded), Granite Speech
(needs torchaudio), Phi-4-multimodal (needs torchvision), Gemma 3n (needs timm and torchvision) and Audio Flamingo 3.
Voxtral is refused with the reason (:data:`NOT_YET_SUPPORTED`). All go through one two-step input path — the
processor's chat template renders the conversation to text (:func:`chat_text`), then ``processor(text=..., audio=...)`` expands
the audio placeholder and extracts features (:func:`processor_inputs`) — and each is tested on a tiny random-weight
checkpoint built from its config (:mod:`hf_ambiguity.tiny_alm`) in all three annotation modes; the real checkpoints'
chat templates come with them and were not run here (no download, no GPU). Another model type is refused with the
list. With ``trust_remote_code=True`` a model type outside the list is loaded through ``AutoModelForMultimodalLM``
(then ``AutoModelForImageTextToText`` / ``AutoModelForCausalLM``) and the same input path is tried, at the user's
risk.

Precision: bfloat16 on GPU, float32 on CPU, unless ``dtype`` says otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["LoadedALM", "Family", "FAMILIES", "SUPPORTED_FAMILIES", "NOT_YET_SUPPORTED", "load_alm", "chat_text",
           "processor_inputs",
           "build_inputs", "audio_placeholder_ids", "resolve_device", "resolve_dtype"]


@dataclass(frozen=True)
class Family:
    """How one transformers model type is loaded: the class of its text-producing model and, for a composite
    checkpoint, the attribute of the checkpoint's config that configures that model (``sub_config``)."""

    name: str
    model_class: str
    example: str
    sub_config: str = ""
    #: The audio encoder's output for a clip depends on the other clips it is padded with in a batch (Gemma 3n's,
    #: in transformers): batches are then formed of clips of one length only, so results do not depend on batching.
    audio_batching_by_length: bool = False


#: model_type -> :class:`Family`
FAMILIES: Mapping[str, Family] = MappingProxyType({f_.name: f_ for f_ in (
    Family("qwen2_audio", "Qwen2AudioForConditionalGeneration", "Qwen/Qwen2-Audio-7B-Instruct"),
    Family("qwen2_5_omni", "Qwen2_5OmniThinkerForConditionalGeneration", "Qwen/Qwen2.5-Omni-7B",
           sub_config="thinker_config"),
    Family("granite_speech", "GraniteSpeechForConditionalGeneration", "ibm-granite/granite-speech-3.3-2b"),
    Family("phi4_multimodal", "Phi4MultimodalForCausalLM", "microsoft/Phi-4-multimodal-instruct"),
    Family("gemma3n", "Gemma3nForConditionalGeneration", "google/gemma-3n-E2B-it", audio_batching_by_length=True),
    Family("audioflamingo3", "AudioFlamingo3ForConditionalGeneration", "nvidia/audio-flamingo-3-hf"),
)})
#: Audio-language model types transformers ships that are not supported yet, with the reason (shown when refused).
NOT_YET_SUPPORTED: Mapping[str, str] = MappingProxyType({
    "voxtral": "Voxtral's processor takes audio only through mistral-common's chat encoding "
               "(apply_chat_template(tokenize=True)), not the text + audio processor call every other family uses, "
               "and mistral-common pins numpy < 2.4 on Python <= 3.12; use mode 'sample' through a vLLM server "
               "(backend openai) for Voxtral",
})
#: model_type -> transformers model class name (kept for callers of the older name)
SUPPORTED_FAMILIES: Mapping[str, str] = MappingProxyType({k: v.model_class for k, v in FAMILIES.items()})


@dataclass(frozen=True)
class LoadedALM:
    """A loaded model (the text-producing part) + processor and where they came from (for provenance)."""

    model: Any = field(repr=False)
    processor: Any = field(repr=False)
    model_id: str
    revision: str | None
    family: str
    device: str
    dtype: str
    end_of_turn_token: str | None = None

    @property
    def sampling_rate(self) -> int:
        proc = self.processor
        extractor = getattr(proc, "feature_extractor", None) or getattr(proc, "audio_processor", None)
        return int(getattr(extractor, "sampling_rate", 16000))


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


def _revision_of(config: Any, revision: str | None) -> str | None:
    commit = getattr(config, "_commit_hash", None)
    return str(commit) if commit else revision


def _remote_code_class(transformers: Any) -> Any:
    for name in ("AutoModelForMultimodalLM", "AutoModelForImageTextToText", "AutoModelForCausalLM"):
        cls = getattr(transformers, name, None)
        if cls is not None:
            return cls
    raise ImportError("this transformers version has no auto class for multimodal language models")


def load_alm(model_id_or_path: str | os.PathLike, *, device: str | None = None, dtype: Any = None,
             trust_remote_code: bool = False, revision: str | None = None) -> LoadedALM:
    """Load an ALM and its processor from a Hub id or a local folder (``from_pretrained``), in eval mode.

    Raises ``ValueError`` for a model type outside :data:`FAMILIES` (unless ``trust_remote_code``).
    """
    import transformers
    from transformers import AutoConfig, AutoProcessor

    model_id = str(model_id_or_path)
    config = AutoConfig.from_pretrained(model_id, revision=revision, trust_remote_code=trust_remote_code)
    family_name = getattr(config, "model_type", "")
    family = FAMILIES.get(family_name)
    if family is not None:
        model_cls = getattr(transformers, family.model_class, None)
        if model_cls is None:
            raise ImportError(f"model type {family_name!r} needs transformers with {family.model_class}; installed: "
                              f"transformers {transformers.__version__} (pip install -U transformers)")
        kwargs = {"config": getattr(config, family.sub_config)} if family.sub_config else {}
    elif trust_remote_code:
        model_cls, kwargs, family = _remote_code_class(transformers), {}, Family(family_name, "auto", model_id)
    elif family_name in NOT_YET_SUPPORTED:
        raise ValueError(f"model {model_id!r} ({family_name}) is not supported yet: {NOT_YET_SUPPORTED[family_name]}")
    else:
        supported = ", ".join(f"{k} (e.g. {v.example})" for k, v in FAMILIES.items())
        raise ValueError(
            f"model {model_id!r} has model_type {family_name!r}; supported audio-language families are: {supported}. "
            "Speech-recognition-only models (which transcribe but do not follow an instruction) cannot annotate. "
            "Pass trust_remote_code=True (--trust-remote-code) to try another model at your own risk."
        )
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    processor = AutoProcessor.from_pretrained(model_id, revision=revision, trust_remote_code=trust_remote_code)
    model = model_cls.from_pretrained(model_id, revision=revision, dtype=torch_dtype,
                                      trust_remote_code=trust_remote_code, **kwargs)
    model.to(dev).eval()
    tok = getattr(processor, "tokenizer", None)
    if tok is not None:
        tok.padding_side = "left"  # batched generation continues every row from its last real token
    alm = LoadedALM(model, processor, model_id, _revision_of(config, revision), family.name, dev,
                    str(torch_dtype).replace("torch.", ""))
    return LoadedALM(**{**alm.__dict__, "end_of_turn_token": _end_of_turn_token(alm)})


def chat_text(alm: LoadedALM, conversation: list[dict[str, Any]]) -> str:
    """The prompt text of one conversation (:meth:`hf_ambiguity.alm.prompts.PromptProtocol.messages`), rendered by
    the processor's chat template (or, for a processor without one, e.g. Phi-4-multimodal's, the tokenizer's) with
    the assistant turn opened."""
    owner = alm.processor if getattr(alm.processor, "chat_template", None) else alm.processor.tokenizer
    return owner.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)


def _end_of_turn_token(alm: LoadedALM) -> str | None:
    """The token the chat template closes an assistant turn with (the end of every complete answer), read off the
    template by rendering a short exchange; ``None`` when it cannot be told (then the scoring's list is used)."""
    marker = "Xq7Zx"
    conv = [{"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": [{"type": "text", "text": marker}]}]
    owner = alm.processor if getattr(alm.processor, "chat_template", None) else alm.processor.tokenizer
    try:
        text = owner.apply_chat_template(conv, add_generation_prompt=False, tokenize=False)
    except Exception:  # a template that cannot render a plain exchange: fall back to the scoring's list
        return None
    rest = text[text.find(marker) + len(marker):] if marker in text else ""
    tok = alm.processor.tokenizer
    ids = tok(rest, add_special_tokens=False)["input_ids"] if rest else []
    if not ids:
        return None
    first = tok.convert_ids_to_tokens(int(ids[0]))
    special = set(getattr(tok, "all_special_tokens", ())) | set(getattr(tok, "added_tokens_encoder", {}))
    return first if first in special else None


def audio_placeholder_ids(alm: LoadedALM) -> list[int]:
    """Token ids that stand for audio in the model's input (the processor's audio token and the config's)."""
    out: set[int] = set()
    proc, tok = alm.processor, alm.processor.tokenizer
    for name in ("audio_token_id", "audio_token_index"):
        for src in (proc, alm.model.config, getattr(alm.model.config, "text_config", None)):
            value = getattr(src, name, None) if src is not None else None
            if isinstance(value, int) and value >= 0:
                out.add(value)
    token = getattr(proc, "audio_token", None)
    if isinstance(token, str):
        tid = tok.convert_tokens_to_ids(token)
        if isinstance(tid, int) and tid != getattr(tok, "unk_token_id", None):
            out.add(tid)
    return sorted(out)


def processor_inputs(alm: LoadedALM, texts: Sequence[str], audios: Sequence[np.ndarray]):
    """Processor inputs (left-padded batch tensors on the model's device) for prompt ``texts``, one audio each
    (mono float32 arrays at :attr:`LoadedALM.sampling_rate`)."""
    if len(texts) != len(audios):
        raise ValueError(f"got {len(texts)} prompts but {len(audios)} audio clips; pass one each")
    proc = alm.processor
    # padding applies to the text only: audio features keep each family's own padding (Whisper-style fixed windows)
    inputs = proc(text=list(texts), audio=[np.asarray(a, dtype=np.float32) for a in audios],
                  sampling_rate=alm.sampling_rate, text_kwargs={"padding": True, "padding_side": "left"},
                  return_tensors="pt")
    inputs = inputs.to(alm.model.device)
    for k in list(inputs):
        v = inputs[k]
        if hasattr(v, "is_floating_point") and v.is_floating_point() and k != "attention_mask":
            inputs[k] = v.to(alm.model.dtype)
    return inputs


def build_inputs(alm: LoadedALM, conversations: Sequence[list[dict[str, Any]]], audios: Sequence[np.ndarray]):
    """:func:`processor_inputs` of chat ``conversations`` (rendered with :func:`chat_text`)."""
    if len(conversations) != len(audios):
        raise ValueError(f"got {len(conversations)} conversations but {len(audios)} audio clips; pass one each")
    return processor_inputs(alm, [chat_text(alm, c) for c in conversations], audios)
