"""Local transformers backend: seeded sampling (``sample``), class scoring (``score``) and the exact
expectation of the N annotators (``expected``).

Sampling: every row of a batch (one utterance x one annotator) has its own temperature, so a whole batch of
annotators is one ``generate`` call. Sampling is done as Gumbel-max on ``logits / T`` with noise drawn from a
per-row generator seeded by (seed, utterance id, annotator index, step): a row's answer does not depend on which
other rows share its batch, so a resumed run reproduces the answers of an uninterrupted one. Only the temperature is
applied (no top-k / top-p / repetition penalty), as in the reference protocol.

Expected mode (:meth:`TransformersAnnotator.expected_batch`): for every annotator ``i`` the exact probability that
temperature-``T_i`` sampling from its own prompt answers exactly each label (:mod:`hf_ambiguity.alm.scoring`).
Annotators differ only in their focus sentence (and temperature), so the audio and the prompt text before the focus
are encoded once per utterance; each distinct focus continues that key/value cache, and all temperatures are read
off the same logits. When the prompt layout puts annotator-specific text before the audio (``layout: text-first``,
the reference structure), nothing that contains the audio is shared: one full pass per distinct annotator prompt is
run instead, which is logged once and recorded in :meth:`TransformersAnnotator.provenance`.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hf_ambiguity.alm.base import Item, Request
from hf_ambiguity.alm.loading import LoadedALM, audio_placeholder_ids, chat_text, load_alm, processor_inputs
from hf_ambiguity.alm.prompts import AnnotatorSpec, PromptLabels, PromptProtocol
from hf_ambiguity.alm.scoring import (call_model, continuation_logprobs, label_token_ids,
                                      output_cache, per_class, shared_prefix_length, supports_tree, tree_logprobs,
                                      _variants)

__all__ = ["TransformersAnnotator", "row_seed", "EXPECTED_SHARED", "EXPECTED_PER_PROMPT", "brute_force_class_logprobs"]

logger = logging.getLogger(__name__)

#: How expected mode ran, as recorded in provenance.
EXPECTED_SHARED = "audio and shared prompt prefix encoded once per utterance; each focus continues its cache"
EXPECTED_PER_PROMPT = ("one full pass per distinct annotator prompt (annotator-specific text comes before the audio, "
                       "so no prefix containing the audio is shared)")


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


def _left_pad(rows: Sequence[Sequence[int]], pad: int, device: Any):
    """``(ids, mask)``: ``rows`` left-padded to one length."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if len(r):
            ids[i, width - len(r):] = torch.tensor(list(r), dtype=torch.long)
            mask[i, width - len(r):] = 1
    return ids.to(device), mask.to(device)


class TransformersAnnotator:
    """Simulated annotators played by a local transformers ALM (see the module docstring)."""

    supports_score = True
    supports_expected = True

    def __init__(self, model: str | LoadedALM, *, device: str | None = None, dtype: Any = None,
                 trust_remote_code: bool = False, revision: str | None = None, max_new_tokens: int = 10):
        self.alm = model if isinstance(model, LoadedALM) else load_alm(
            model, device=device, dtype=dtype, trust_remote_code=trust_remote_code, revision=revision)
        self.max_new_tokens = int(max_new_tokens)
        self._label_ids: dict[tuple[str, ...], list] = {}
        self._expected_paths: set[str] = set()
        rev = self.alm.revision or _local_fingerprint(self.alm.model_id)
        # the precision changes the answers (the device only rounds differently): a cache of bf16 answers must not
        # resume a float32 run
        self.identity = (f"transformers:{self.alm.model_id}@{rev};dtype={self.alm.dtype};"
                         f"max_new_tokens={self.max_new_tokens}")

    def provenance(self) -> dict[str, Any]:
        out = {"backend": "transformers", "model": self.alm.model_id, "revision": self.alm.revision,
               "family": self.alm.family, "dtype": self.alm.dtype, "device": self.alm.device,
               "max_new_tokens": self.max_new_tokens, "sampling": "temperature only (per-row seeded Gumbel-max)"}
        if self._expected_paths:
            out["expected_mode_passes"] = sorted(self._expected_paths)
        return out

    # ------------------------------------------------------------------------------------------------ helpers
    def _audio(self, item: Item) -> np.ndarray:
        if item.sampling_rate != self.alm.sampling_rate:
            import librosa

            return librosa.resample(item.audio, orig_sr=item.sampling_rate, target_sr=self.alm.sampling_rate)
        return item.audio

    def _labels(self, protocol: PromptProtocol, item: Item) -> PromptLabels:
        return protocol.labels_for(item.class_names, item.corpus)

    def _label_token_ids(self, labels: PromptLabels) -> list:
        key = labels.spellings
        if key not in self._label_ids:
            self._label_ids[key] = label_token_ids(self.alm.processor.tokenizer, key,
                                                   end_token=self.alm.end_of_turn_token)
        return self._label_ids[key]

    def _by_length(self) -> bool:
        from hf_ambiguity.alm.loading import FAMILIES

        family = FAMILIES.get(self.alm.family)
        return bool(family and family.audio_batching_by_length)

    def _groups(self, items: Sequence[Item], protocol: PromptProtocol) -> dict[tuple, list[int]]:
        """Positions of ``items`` by prompt label set (a batch may mix corpora or class sets) and, for families whose
        audio encoder depends on batch padding, by audio length; keys ``(PromptLabels, length or None)``."""
        by_length = self._by_length()
        groups: dict[tuple, list[int]] = {}
        for i, it in enumerate(items):
            key = (protocol.labels_for(it.class_names, it.corpus), len(it.audio) if by_length else None)
            groups.setdefault(key, []).append(i)
        return groups

    # ------------------------------------------------------------------------------------------------ sample
    def annotate_batch(self, requests: Sequence[Request], protocol: PromptProtocol | None = None) -> list[str]:
        if not requests:
            return []
        protocol = protocol or PromptProtocol.project()
        if self._by_length():
            out: list[str] = [""] * len(requests)
            groups: dict[int, list[int]] = {}
            for i, r in enumerate(requests):
                groups.setdefault(len(r.item.audio), []).append(i)
            for pos in groups.values():
                for p, answer in zip(pos, self._generate([requests[p] for p in pos], protocol)):
                    out[p] = answer
            return out
        return self._generate(requests, protocol)

    def _generate(self, requests: Sequence[Request], protocol: PromptProtocol) -> list[str]:
        import torch
        from transformers import GenerationConfig

        texts = [chat_text(self.alm, protocol.messages(r.item.transcript, r.item.speaker, r.item.class_names,
                                                       r.spec.focus, r.item.corpus)) for r in requests]
        inputs = processor_inputs(self.alm, texts, [self._audio(r.item) for r in requests])
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

    # ------------------------------------------------------------------------------------------------ score
    def score_batch(self, items: Sequence[Item], protocol: PromptProtocol | None = None) -> np.ndarray:
        """``(len(items), n_classes)`` temperature-1 class log-probabilities of the annotator-neutral prompt (the
        same token-tree pass as expected mode, with one prompt per utterance)."""
        import torch

        if not items:
            return np.zeros((0, 0))
        protocol = protocol or PromptProtocol.project()
        out = np.zeros((len(items), len(items[0].class_names)))
        for (labels, _), pos in self._groups(items, protocol).items():
            group = [items[p] for p in pos]
            with torch.inference_mode():
                logp = self._expected_group(group, [None], [1.0], labels, protocol, note=False)  # (1, B, n_labels)
            out[pos] = labels.to_class_order(logp[0].double().cpu().numpy())
        return out

    # ------------------------------------------------------------------------------------------------ expected
    def expected_batch(self, items: Sequence[Item], specs: Sequence[AnnotatorSpec],
                       protocol: PromptProtocol | None = None) -> np.ndarray:
        """``(len(items), len(specs), n_classes)``: log-probability that annotator ``specs[j]`` (its focus and
        temperature) answers exactly each class (dataset class order); see the module docstring."""
        import torch

        if not items:
            return np.zeros((0, len(specs), 0))
        if not specs:
            raise ValueError("expected_batch needs at least one annotator spec")
        protocol = protocol or PromptProtocol.project()
        out = np.zeros((len(items), len(specs), len(items[0].class_names)))
        foci = list(dict.fromkeys(s.focus for s in specs))
        temps = sorted({float(s.temperature) for s in specs})
        for (labels, _), pos in self._groups(items, protocol).items():
            group = [items[p] for p in pos]
            with torch.inference_mode():
                logp = self._expected_group(group, foci, temps, labels, protocol)  # (nT, B*A, n_labels)
            a = len(foci)
            for j, s in enumerate(specs):
                rows = torch.arange(len(group)) * a + foci.index(s.focus)
                vals = logp[temps.index(float(s.temperature)), rows].double().cpu().numpy()
                out[pos, j] = labels.to_class_order(vals)
        return out

    def _expected_group(self, items: Sequence[Item], foci: Sequence[str | None], temps: Sequence[float],
                        labels: PromptLabels, protocol: PromptProtocol, *, note: bool = True):
        """``(len(temps), B * A, n_labels)`` label log-probabilities, row ``b * A + a`` = item ``b``, focus ``a``."""
        variants, owner = _variants(self._label_token_ids(labels))
        texts = [self._variant_texts(it, foci, protocol) for it in items]
        audios = [self._audio(it) for it in items]
        split = self._split_prompts(texts, audios)
        if split is None:  # annotator-specific text before the audio: one pass per prompt
            if note:
                self._note_path(EXPECTED_PER_PROMPT)
            split = self._split_prompts([[t] for row in texts for t in row], [a for a in audios for _ in foci],
                                        last_token_only=True)
        elif note:
            self._note_path(EXPECTED_SHARED)
        inputs, prefixes, suffixes = split
        model = self.alm.model
        pad = self.alm.processor.tokenizer.pad_token_id
        pad = 0 if pad is None else int(pad)
        p_ids, p_mask = _left_pad(prefixes, pad, inputs["input_ids"].device)
        extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask", *_PER_TOKEN_KEYS)}
        p_pos = (p_mask.cumsum(-1) - 1).clamp(min=0)
        out = call_model(model, input_ids=p_ids, attention_mask=p_mask, position_ids=p_pos, use_cache=True,
                         keep_last_logits=True, **extra)
        cache = output_cache(out)
        if supports_tree(model):
            seq = tree_logprobs(model, cache, p_mask, suffixes, variants, temps, pad)    # (nT, rows, A, K)
            seq = seq.reshape(seq.shape[0], -1, seq.shape[-1])
        else:  # no custom masks: copy the cache once per branch, then once per label spelling
            n_var = len(suffixes[0])
            cache.batch_repeat_interleave(n_var)
            s_ids, s_mask = _left_pad([s for row in suffixes for s in row], pad, p_ids.device)
            start = p_mask.sum(-1).repeat_interleave(n_var)
            mask2 = torch_cat([p_mask.repeat_interleave(n_var, 0), s_mask])
            s_pos = start.unsqueeze(1) + (s_mask.cumsum(-1) - 1).clamp(min=0)
            out2 = call_model(model, input_ids=s_ids, attention_mask=mask2, position_ids=s_pos, cache=cache,
                              use_cache=True, keep_last_logits=True)
            seq = continuation_logprobs(model, output_cache(out2), mask2, start + s_mask.sum(-1),
                                        out2.logits[:, -1, :].float(), variants, temps)
        return per_class(seq, owner, len(labels.spellings))

    _SENTINEL = "\u2063FOCUS\u2063"

    def _variant_texts(self, item: Item, foci: Sequence[str | None], protocol: PromptProtocol) -> list[str]:
        """The rendered prompt of ``item`` for each focus. The chat template is rendered once with a placeholder
        focus and the placeholder replaced, when that reproduces the first focus's own rendering exactly (a template
        that inserts message text verbatim); otherwise every focus is rendered."""
        def render(focus):
            return chat_text(self.alm, protocol.messages(item.transcript, item.speaker, item.class_names, focus,
                                                         item.corpus))

        first = render(foci[0])
        if len(foci) == 1 or foci[0] is None or any(f is None for f in foci):
            return [first] + [render(f) for f in foci[1:]]
        marked = render(self._SENTINEL)
        if marked.count(self._SENTINEL) != 1 or marked.replace(self._SENTINEL, foci[0]) != first:
            return [first] + [render(f) for f in foci[1:]]
        return [first] + [marked.replace(self._SENTINEL, f) for f in foci[1:]]

    def _note_path(self, path: str) -> None:
        if path not in self._expected_paths:
            self._expected_paths.add(path)
            if path == EXPECTED_PER_PROMPT:
                logger.warning("expected mode: %s", path)

    def _split_prompts(self, texts: Sequence[Sequence[str]], audios: Sequence[np.ndarray], *,
                       last_token_only: bool = False):
        """``(processor inputs, prefixes, suffixes)``: row ``b``'s prompts ``texts[b]`` as one shared prefix (which
        holds the audio; processor token ids) and each prompt's own remaining tokens (at least one). ``None`` when
        the prompts share no prefix that holds the audio, or the processor's tokens cannot be split safely.
        ``last_token_only``: one prompt per row, its last token as the suffix."""
        alm = self.alm
        tok = alm.processor.tokenizer
        placeholders = audio_placeholder_ids(alm)
        flat = list(tok([t for row in texts for t in row])["input_ids"])  # one batched call
        width = len(texts[0])
        unexpanded = [[list(x) for x in flat[i * width:(i + 1) * width]] for i in range(len(texts))]
        if last_token_only:
            cut = [len(row[0]) - 1 for row in unexpanded]
        else:
            cut = [shared_prefix_length(row, placeholders) for row in unexpanded]
            if any(c is None or c == 0 for c in cut):
                return None
        inputs = processor_inputs(alm, [row[0] for row in texts], audios)  # audio features once per row
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        prefixes, suffixes = [], []
        for b, row in enumerate(unexpanded):
            full = ids[b][mask[b].bool()].tolist()
            tail = row[0][cut[b]:]
            if len(full) <= len(tail) or full[len(full) - len(tail):] != tail:
                if last_token_only:
                    raise RuntimeError("the processor's prompt tokens do not end with the chat template's own tokens")
                logger.info("expected mode: the processor's tokens do not end with the prompt's own tokens; one "
                            "pass per annotator prompt instead")
                return None
            prefixes.append(full[:len(full) - len(tail)])
            suffixes.append([r[cut[b]:] for r in row])
        return inputs, prefixes, suffixes


#: Processor outputs that are per token of the full prompt (not audio inputs): not passed with the prefix alone.
_PER_TOKEN_KEYS = ("token_type_ids", "mm_token_type_ids", "position_ids", "cache_position")


def torch_cat(parts):
    import torch

    return torch.cat(parts, dim=1)


def brute_force_class_logprobs(alm: LoadedALM, item: Item, spec: AnnotatorSpec,
                               protocol: PromptProtocol) -> np.ndarray:
    """log p(annotator ``spec`` answers exactly each class) for ``item``, in dataset class order, the slow way: one
    uncached forward pass of the unpadded prompt + answer per label spelling, the spellings of a class summed.

    It shares no code with the token tree, the cache copies or batching, which is why the tests and
    ``bench/gpu_check.py`` check :meth:`TransformersAnnotator.expected_batch` (and ``score_batch``, with a neutral
    spec at temperature 1) against it; use it for verification, not for annotation."""
    import torch

    labels = protocol.labels_for(item.class_names, item.corpus)
    spellings = label_token_ids(alm.processor.tokenizer, labels.spellings, end_token=alm.end_of_turn_token)
    one = processor_inputs(alm, [chat_text(alm, protocol.messages(item.transcript, item.speaker, item.class_names,
                                                                   spec.focus, item.corpus))], [item.audio])
    prompt = one["input_ids"]
    extra = {k: v for k, v in one.items() if k not in ("input_ids", "attention_mask")}
    per_class = []
    with torch.inference_mode():
        for answers in spellings:
            terms = []
            for answer in answers:
                ids = torch.cat([prompt, torch.tensor([answer], device=prompt.device)], 1)
                logits = alm.model(input_ids=ids, attention_mask=torch.ones_like(ids), **extra).logits[0]
                logp = (logits[prompt.shape[1] - 1:-1].float() / spec.temperature).log_softmax(-1)
                terms.append(float(logp[torch.arange(len(answer)), torch.tensor(answer)].sum()))
            per_class.append(np.logaddexp.reduce(terms))
    return labels.to_class_order(np.asarray(per_class))
