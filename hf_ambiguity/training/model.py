"""The trainable model: a (LoRA-adapted) audio-language model plus a distribution head, and its identity.

``DistributionModel.forward(**batch)`` returns log-probabilities ``(batch, n_classes)``:

- ``head="attention"``: the inner decoder's last hidden states (``Qwen2AudioForConditionalGeneration.model``, so the
  vocabulary-sized ``lm_head`` is never computed) → :class:`~hf_ambiguity.training.head.AttentionPoolingHead`.
- ``head="label_token"``: :func:`hf_ambiguity.alm.scoring.class_sequence_logprobs` (the annotator's ``score`` code)
  → log-softmax over the class set.

:func:`model_fingerprint` identifies the base architecture (not its weights' location), so that a saved adapter +
head is refused on another model with a clear error instead of loading into the wrong shapes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

import torch
from torch import nn

from hf_ambiguity.training.head import AttentionPoolingHead

__all__ = ["DistributionModel", "model_fingerprint", "build_model", "run_identity", "MODEL_INPUT_KEYS"]

#: Batch keys passed to the backbone (the collator adds ``target`` and ``index``, which it never sees).
MODEL_INPUT_KEYS = ("input_ids", "attention_mask", "input_features", "feature_attention_mask")

_ARCH_KEYS = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
              "intermediate_size", "vocab_size", "d_model", "encoder_layers", "num_mel_bins")


def _arch(config: Any) -> dict[str, Any]:
    out: dict[str, Any] = {k: getattr(config, k) for k in _ARCH_KEYS if isinstance(getattr(config, k, None), (int, str))}
    for sub in ("text_config", "audio_config"):
        if getattr(config, sub, None) is not None:
            out[sub] = _arch(getattr(config, sub))
    return out


def model_fingerprint(config: Any) -> dict[str, Any]:
    """``{"architecture": {...}, "sha256": ...}`` of a transformers config's architecture-defining fields."""
    arch = _arch(config)
    digest = hashlib.sha256(json.dumps(arch, sort_keys=True).encode()).hexdigest()[:16]
    return {"architecture": arch, "sha256": digest}


def run_identity(cfg: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """What a checkpoint or a saved model of this run must agree on: base model (and its architecture fingerprint,
    read from its config only, no weights), head, class names and the resolved options."""
    from transformers import AutoConfig

    fingerprint = model_fingerprint(AutoConfig.from_pretrained(cfg.model, trust_remote_code=cfg.trust_remote_code))
    head: dict[str, Any] = {"kind": cfg.head}
    if cfg.head == "attention":
        head.update({"num_heads": cfg.head_num_heads, "n_classes": len(class_names)})
    return {"base_model": cfg.model, "model_fingerprint": fingerprint, "head": head,
            "class_names": list(class_names), "config": cfg.resolved_config()}


def text_hidden_size(config: Any) -> int:
    text = getattr(config, "text_config", None) or config
    return int(text.hidden_size)


class DistributionModel(nn.Module):
    """Backbone (a ``PreTrainedModel`` or ``PeftModel``) + head; ``forward`` → log-probabilities ``(B, C)``."""

    def __init__(self, backbone: nn.Module, head: AttentionPoolingHead | None, *, head_kind: str,
                 label_token_ids: Sequence[Sequence[Sequence[int]]] | None = None) -> None:
        super().__init__()
        if head_kind == "attention" and head is None:
            raise ValueError("head_kind 'attention' needs an AttentionPoolingHead")
        if head_kind == "label_token" and not label_token_ids:
            raise ValueError("head_kind 'label_token' needs label_token_ids (hf_ambiguity.alm.scoring)")
        self.backbone, self.head, self.head_kind = backbone, head, head_kind
        self.label_token_ids = label_token_ids

    def _base(self) -> nn.Module:
        get = getattr(self.backbone, "get_base_model", None)
        return get() if callable(get) else self.backbone

    def forward(self, input_ids, attention_mask, input_features=None, feature_attention_mask=None,
                **_: Any) -> torch.Tensor:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if input_features is not None:
            base = self._base()
            inputs["input_features"] = input_features.to(next(base.parameters()).dtype)
            inputs["feature_attention_mask"] = feature_attention_mask
        if self.head_kind == "label_token":
            from hf_ambiguity.alm.scoring import class_sequence_logprobs

            logp = class_sequence_logprobs(self.backbone, inputs, self.label_token_ids)
            return torch.log_softmax(logp, dim=-1)
        base = self._base()
        inner = getattr(base, "model", None)
        if isinstance(inner, nn.Module) and hasattr(base, "lm_head"):
            out = inner(**inputs, use_cache=False)
            hidden = out.last_hidden_state
            mask = out.attention_mask if getattr(out, "attention_mask", None) is not None else attention_mask
        else:  # another family: ask for hidden states (computes the LM head too)
            out = base(**inputs, output_hidden_states=True, use_cache=False)
            hidden, mask = out.hidden_states[-1], attention_mask
        return self.head(hidden, mask)


def build_model(cfg: Any, class_names: Sequence[str], *, device: str = "cpu"):
    """``(DistributionModel, processor, base_config)`` for a :class:`TrainingArguments`: base model in ``torch_dtype``,
    LoRA adapters (float32) from peft, and the head (float32). Seeds must be set by the caller."""
    from peft import LoraConfig, get_peft_model

    from hf_ambiguity.alm.loading import load_alm
    from hf_ambiguity.alm.scoring import label_token_ids

    alm = load_alm(cfg.model, device=device, dtype=cfg.torch_dtype, trust_remote_code=cfg.trust_remote_code)
    base, processor = alm.model, alm.processor
    base.config.use_cache = False
    if cfg.gradient_checkpointing:
        if cfg.head == "label_token":
            raise ValueError("--gradient_checkpointing is not supported with --head label_token (it needs the "
                             "key/value cache); use the attention head or turn checkpointing off")
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(cfg.lora_target_modules), bias="none")
    backbone = get_peft_model(base, lora)
    for p in backbone.parameters():
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()
    if cfg.head == "attention":
        head = AttentionPoolingHead(text_hidden_size(base.config), len(class_names),
                                    num_heads=cfg.head_num_heads, dropout=cfg.head_dropout).to(device)
        model = DistributionModel(backbone, head, head_kind="attention")
    else:
        model = DistributionModel(backbone, None, head_kind="label_token",
                                  label_token_ids=label_token_ids(processor.tokenizer, list(class_names)))
    return model, processor, base.config
