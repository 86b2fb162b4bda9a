"""Local transformers backend: batched, seeded sampling (``sample`` mode) and one-pass class scoring (``score``).

Sampling: every row of a batch (one utterance x one annotator) has its own temperature, so a whole batch of
annotators is one ``generate`` call. Sampling is done as Gumbel-max on ``logits / T`` with noise drawn from a
per-row generator seeded by (seed, utterance id, annotator index, step): a row's answer does not depend on which
other rows share its batch, so a resumed run reproduces the answers of an uninterrupted one. Only the temperature is
applied (no top-k / top-p / repetition penalty), as in the reference protocol.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hf_ambiguity.alm.base import Item, Request
from hf_ambiguity.alm.loading import LoadedALM, build_inputs, load_alm
from hf_ambiguity.alm.prompts import build_messages
from hf_ambiguity.alm.scoring import class_sequence_logprobs, label_token_ids

__all__ = ["TransformersAnnotator", "row_seed"]


def row_seed(seed: int, item_id: str, annotator: int) -> int:
    """A 63-bit seed for one (run seed, utterance, annotator) triple."""
    digest = hashlib.sha256(f"{seed}\x1f{item_id}\x1f{annotator}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _local_fingerprint(folder: str) -> str:
    """For a local checkpoint: a hash of its config and weight files' names, sizes and mtimes, so that answers cached
    for one set of weights are never reused after the folder is overwritten with another."""
    path = Path(folder)
    if not path.is_dir():
        return "unknown"
    h = hashlib.sha256()
    for f in sorted(path.glob("*.json")) + sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        st = f.stat()
        h.update(f"{f.name}\x1f{st.st_size}\x1f{st.st_mtime_ns}\n".encode())
    return "local-" + h.hexdigest()[:12]


def _gumbel_processor(temperatures, seeds: Sequence[int], prompt_len: int):
    import torch
    from transformers import LogitsProcessor

    class _PerRowGumbel(LogitsProcessor):
        def __call__(self, input_ids, scores):
            step = input_ids.shape[1] - prompt_len
            vocab = scores.shape[-1]
            noise = torch.empty((len(seeds), vocab), dtype=torch.float32)
            for r, s in enumerate(seeds):
                g = torch.Generator().manual_seed((s + 1_000_003 * step) % (2**63 - 1))
                noise[r] = torch.rand(vocab, generator=g)
            gumbel = -torch.log(-torch.log(noise.clamp(1e-12, 1.0 - 1e-7)))
            return scores.float() / temperatures[:, None] + gumbel.to(scores.device)

    return _PerRowGumbel()


class TransformersAnnotator:
    """Simulated annotators played by a local transformers ALM (see the module docstring)."""

    supports_score = True

    def __init__(self, model: str | LoadedALM, *, device: str | None = None, dtype: Any = None,
                 trust_remote_code: bool = False, revision: str | None = None, max_new_tokens: int = 10):
        self.alm = model if isinstance(model, LoadedALM) else load_alm(
            model, device=device, dtype=dtype, trust_remote_code=trust_remote_code, revision=revision)
        self.max_new_tokens = int(max_new_tokens)
        self._label_ids: dict[tuple[str, ...], list] = {}
        rev = self.alm.revision or _local_fingerprint(self.alm.model_id)
        self.identity = f"transformers:{self.alm.model_id}@{rev};max_new_tokens={self.max_new_tokens}"

    def provenance(self) -> dict[str, Any]:
        return {"backend": "transformers", "model": self.alm.model_id, "revision": self.alm.revision,
                "family": self.alm.family, "dtype": self.alm.dtype, "device": self.alm.device,
                "max_new_tokens": self.max_new_tokens, "sampling": "temperature only (per-row seeded Gumbel-max)"}

    def _audio(self, item: Item) -> np.ndarray:
        if item.sampling_rate != self.alm.sampling_rate:
            import librosa

            return librosa.resample(item.audio, orig_sr=item.sampling_rate, target_sr=self.alm.sampling_rate)
        return item.audio

    def annotate_batch(self, requests: Sequence[Request]) -> list[str]:
        import torch
        from transformers import GenerationConfig

        if not requests:
            return []
        convs = [build_messages(r.item.transcript, r.item.speaker, r.item.class_names, r.spec.focus) for r in requests]
        inputs = build_inputs(self.alm, convs, [self._audio(r.item) for r in requests])
        prompt_len = inputs["input_ids"].shape[1]
        temps = torch.tensor([r.spec.temperature for r in requests], dtype=torch.float32,
                             device=inputs["input_ids"].device)
        seeds = [row_seed(r.seed, r.item.id, r.spec.index) for r in requests]
        model = self.alm.model
        base = model.generation_config
        tok = self.alm.processor.tokenizer
        gen = GenerationConfig(max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1,
                               eos_token_id=base.eos_token_id, pad_token_id=tok.pad_token_id)
        # generate() fills every field left unset in `gen` from the checkpoint's generation_config.json (e.g. a
        # chat model's repetition_penalty, no_repeat_ngram_size or suppress_tokens, which act even without
        # sampling and would reshape the label distribution): swap in a clean one so only the temperature applies
        model.generation_config = GenerationConfig(eos_token_id=base.eos_token_id, pad_token_id=tok.pad_token_id)
        try:
            with torch.inference_mode():
                out = model.generate(**inputs, generation_config=gen,
                                     logits_processor=[_gumbel_processor(temps, seeds, prompt_len)])
        finally:
            model.generation_config = base
        return [t.strip() for t in tok.batch_decode(out[:, prompt_len:], skip_special_tokens=True)]

    def score_batch(self, items: Sequence[Item]) -> np.ndarray:
        import torch

        if not items:
            return np.zeros((0, 0))
        names = items[0].class_names
        if names not in self._label_ids:
            self._label_ids[names] = label_token_ids(self.alm.processor.tokenizer, names)
        convs = [build_messages(it.transcript, it.speaker, it.class_names, None) for it in items]
        inputs = build_inputs(self.alm, convs, [self._audio(it) for it in items])
        with torch.inference_mode():
            scores = class_sequence_logprobs(self.alm.model, inputs, self._label_ids[names])
        return scores.double().cpu().numpy()
