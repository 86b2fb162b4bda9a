"""``score`` mode: the model's probability of each class name as the whole answer, from one prompt pass.

For prompt ``x`` and a class whose answer tokens are ``y_1..y_L`` (the class name followed by the end-of-turn token,
so "happy" and "happy birthday" differ), the score is the full-sequence log-probability
``log p(y_1..y_L | x) = sum_t log p(y_t | x, y_<t)``. A class may have several spellings (``"happy"``,
``"Happy"``): their probabilities are summed (log-sum-exp). Normalising over the class set
(:func:`scores_to_distribution`) gives a synthetic distribution without sampling: it is the distribution of sampled
answers at temperature 1 *conditioned on the answer being exactly one of the class spellings*.

Cost: one forward pass over the prompts (audio encoded once), then one small pass over all continuations that reuses
the prompt's key/value cache (repeated once per spelling). Gradients flow when called outside ``torch.no_grad`` —
the training's label-token head uses this function. When the model returns no cache (training with gradient
checkpointing turns it off), each spelling is scored by one full forward pass of prompt + answer instead (same result,
more compute).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["class_sequence_logprobs", "label_token_ids", "scores_to_distribution"]

_END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|endoftext|>")


def label_token_ids(tokenizer: Any, class_names: Sequence[str], *, spellings: str = "lower+capitalized",
                    end_token: str | None = "auto") -> list[list[list[int]]]:
    """Token ids of each class's answer: ``[class][spelling] -> [ids...]`` (+ the end-of-turn token).

    ``spellings``: ``"lower+capitalized"`` (default; ``happy`` and ``Happy``) or ``"as-is"`` (the class name only).
    ``end_token="auto"`` uses the first of ``<|im_end|>``/``<|eot_id|>``/``<|endoftext|>`` the tokenizer knows;
    ``None`` scores the bare name (then ``"happy"`` also collects the mass of longer answers starting with it).
    """
    if spellings not in ("lower+capitalized", "as-is"):
        raise ValueError(f"spellings must be 'lower+capitalized' or 'as-is', got {spellings!r}")
    end_id: int | None = None
    if end_token == "auto":
        vocab = tokenizer.get_vocab()
        end_id = next((vocab[t] for t in _END_OF_TURN if t in vocab), None)
        if end_id is None:
            raise ValueError(f"the tokenizer knows none of {_END_OF_TURN}; pass end_token explicitly or None")
    elif end_token is not None:
        end_id = tokenizer.convert_tokens_to_ids(end_token)
    out = []
    for name in class_names:
        forms = [name] if spellings == "as-is" else list(dict.fromkeys([name.lower(), name.capitalize()]))
        seqs = []
        for form in forms:
            ids = list(tokenizer(form, add_special_tokens=False)["input_ids"])
            if not ids:
                raise ValueError(f"class name {name!r} tokenizes to nothing")
            seqs.append(ids + ([end_id] if end_id is not None else []))
        out.append(seqs)
    return out


def class_sequence_logprobs(model: Any, processor_inputs: Mapping[str, Any],
                            label_token_ids: Sequence[Sequence[int]] | Sequence[Sequence[Sequence[int]]]):
    """Full-sequence log-probability of each class's answer after each prompt: a ``(batch, n_classes)`` tensor.

    ``processor_inputs``: a *left-padded* batch from the processor (``input_ids``, ``attention_mask``, audio
    features). ``label_token_ids[c]`` is one token-id sequence, or a list of sequences (spellings, summed).
    Returned in float32 on the model's device; not wrapped in ``no_grad``.
    """
    import torch

    variants: list[list[int]] = []
    owner: list[int] = []
    for c, entry in enumerate(label_token_ids):
        seqs = [list(entry)] if entry and isinstance(entry[0], (int, np.integer)) else [list(s) for s in entry]
        if not seqs or any(len(s) == 0 for s in seqs):
            raise ValueError(f"class {c}: label_token_ids must hold non-empty token-id sequences, got {entry!r}")
        variants.extend(seqs)
        owner.extend([c] * len(seqs))
    n_classes = len(label_token_ids)
    inputs = dict(processor_inputs)
    input_ids = inputs["input_ids"]
    mask = inputs.get("attention_mask")
    if mask is None:
        mask = torch.ones_like(input_ids)
    if bool((mask[:, -1] == 0).any()):
        raise ValueError("processor_inputs must be left-padded (tokenizer.padding_side = 'left')")
    device = input_ids.device
    batch, k = input_ids.shape[0], len(variants)
    position_ids = (mask.long().cumsum(-1) - 1).clamp(min=0)
    owner_t = torch.tensor(owner, device=device)
    if model.training and _checkpointing(model):
        return _per_class(_full_sequence_logprobs(model, inputs, mask, variants), owner_t, n_classes)
    out = model(**inputs, position_ids=position_ids, use_cache=True)
    first_logp = out.logits[:, -1, :].float().log_softmax(-1)                          # (B, V)
    first_ids = torch.tensor([v[0] for v in variants], device=device)
    seq_logp = first_logp[:, first_ids]                                                # (B, K)
    max_len = max(len(v) for v in variants)
    cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
    if max_len > 1 and cache is None:
        return _per_class(_full_sequence_logprobs(model, inputs, mask, variants), owner_t, n_classes)
    if max_len > 1:
        cache.batch_repeat_interleave(k)
        cont = torch.tensor([v[:-1] + [v[0]] * (max_len - len(v)) for v in variants], device=device)  # (K, L-1)
        target = torch.tensor([v[1:] + [v[0]] * (max_len - len(v)) for v in variants], device=device)
        valid = torch.tensor([[1.0] * (len(v) - 1) + [0.0] * (max_len - len(v)) for v in variants], device=device)
        cont_b = cont.repeat(batch, 1)                                                 # (B*K, L-1), row b*K + j
        full_mask = torch.cat([mask.repeat_interleave(k, 0), torch.ones_like(cont_b)], dim=1)
        start = mask.long().sum(-1).repeat_interleave(k).unsqueeze(1)
        pos = start + torch.arange(max_len - 1, device=device).unsqueeze(0)
        out2 = model(input_ids=cont_b, attention_mask=full_mask, position_ids=pos, cache=cache, use_cache=True)
        logp = out2.logits.float().log_softmax(-1)                                     # (B*K, L-1, V)
        tok_logp = logp.gather(-1, target.repeat(batch, 1).unsqueeze(-1)).squeeze(-1)
        seq_logp = seq_logp + (tok_logp * valid.repeat(batch, 1)).sum(-1).view(batch, k)
    return _per_class(seq_logp, owner_t, n_classes)


def _checkpointing(model: Any) -> bool:
    """Whether activation (gradient) checkpointing is on (transformers 5 name first, then the older one)."""
    for name in ("is_activation_checkpointing", "is_gradient_checkpointing"):
        try:
            return bool(getattr(model, name))
        except AttributeError:
            continue
    return False


def _per_class(seq_logp, owner, n_classes: int):
    """``(batch, n_spellings)`` -> ``(batch, n_classes)`` by log-sum-exp over each class's spellings."""
    import torch

    return torch.stack([torch.logsumexp(seq_logp[:, owner == c], dim=-1) for c in range(n_classes)], dim=-1)


def _full_sequence_logprobs(model: Any, inputs: dict[str, Any], mask: Any, variants: list[list[int]]):
    """``(batch, n_spellings)`` log-probabilities without a KV cache: one forward of prompt + answer per spelling."""
    import torch

    input_ids = inputs["input_ids"]
    batch, n_prompt = input_ids.shape
    cols = []
    for v in variants:
        seq = torch.tensor(v, device=input_ids.device)
        ids = torch.cat([input_ids, seq.unsqueeze(0).expand(batch, -1)], dim=1)
        attn = torch.cat([mask, torch.ones((batch, len(v)), dtype=mask.dtype, device=mask.device)], dim=1)
        pos = (attn.long().cumsum(-1) - 1).clamp(min=0)
        logits = model(**{**inputs, "input_ids": ids, "attention_mask": attn}, position_ids=pos, use_cache=False).logits
        logp = logits[:, n_prompt - 1:n_prompt - 1 + len(v)].float().log_softmax(-1)
        cols.append(logp.gather(-1, seq.view(1, -1, 1).expand(batch, -1, 1)).squeeze(-1).sum(-1))
    return torch.stack(cols, dim=-1)


def scores_to_distribution(logprobs: np.ndarray) -> np.ndarray:
    """Softmax of ``(n_items, n_classes)`` class log-probabilities over the class set (temperature 1).

    >>> scores_to_distribution(np.log(np.array([[0.2, 0.2, 0.1]]))).round(2)
    array([[0.4, 0.4, 0.2]])
    """
    from scipy.special import softmax

    return softmax(np.asarray(logprobs, dtype=np.float64), axis=-1)
