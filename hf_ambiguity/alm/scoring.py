"""Exact class-answer probabilities from a causal audio-language model, without sampling.

For a prompt ``x`` and a class whose answer tokens are ``y_1..y_L`` (the label followed by the end-of-turn token, so
"happy" and "happy birthday" differ), temperature-``T`` sampling produces exactly that answer with probability
``prod_t softmax(z_t / T)[y_t]`` where ``z_t`` are the logits after ``x, y_<t``. A label may have several spellings
(``"happy"``, ``"Happy"``): their probabilities are summed (log-sum-exp). The mass left over,
``1 - sum_classes p``, is the probability of an answer that is not exactly one of the labels (the analogue of an
unparsable answer; a sampled answer such as "Happy." that the parser would still accept is part of it).

- ``score`` mode, :func:`class_sequence_logprobs`: one annotator-neutral prompt, ``T = 1``. Normalising over the
  class set (:func:`scores_to_distribution`) gives the temperature-1 answer distribution conditioned on the answer
  being exactly a label. Gradients flow when called outside ``torch.no_grad`` (the training's label-token head).
- ``expected`` mode, :func:`shared_prefix_length` + :func:`continuation_logprobs`: every simulated annotator ``i``
  (its own focus sentence and temperature ``T_i``); the caller encodes the audio and the prompt prefix shared by all
  annotators once, continues the key/value cache with each annotator's text, then scores every label at every
  temperature from the same logits (:class:`hf_ambiguity.alm.local.TransformersAnnotator` does this).

Cost of a label continuation: one small forward pass over all label spellings that reuses the prompt's key/value cache
(repeated once per spelling). When the model returns no cache (training with gradient checkpointing turns it off),
each spelling is scored by one full forward pass of prompt + answer instead (same result, more compute).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["class_sequence_logprobs", "label_token_ids", "scores_to_distribution", "continuation_logprobs",
           "tree_logprobs", "supports_tree", "shared_prefix_length", "call_model", "output_cache",
           "END_OF_TURN_TOKENS"]

#: End-of-turn tokens of the supported chat templates, tried in this order when ``end_token="auto"``.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|end_of_text|>", "</s>",
                      "<|endoftext|>")


def label_token_ids(tokenizer: Any, labels: Sequence[str], *, spellings: str = "lower+capitalized",
                    end_token: str | None = "auto") -> list[list[list[int]]]:
    """Token ids of each label's answer: ``[label][spelling] -> [ids...]`` (+ the end-of-turn token).

    ``spellings``: ``"lower+capitalized"`` (default; ``happy`` and ``Happy``, and the label as written when it is
    neither, e.g. ``Neutral State``) or ``"as-is"`` (the label only). ``end_token="auto"`` uses the first of
    :data:`END_OF_TURN_TOKENS` the tokenizer knows; ``None`` scores the bare label (then ``"happy"`` also collects the
    mass of longer answers starting with it).
    """
    if spellings not in ("lower+capitalized", "as-is"):
        raise ValueError(f"spellings must be 'lower+capitalized' or 'as-is', got {spellings!r}")
    end_id: int | None = None
    if end_token == "auto":
        end_id = end_of_turn_id(tokenizer)
    elif end_token is not None:
        end_id = tokenizer.convert_tokens_to_ids(end_token)
    out = []
    for name in labels:
        forms = [name] if spellings == "as-is" else list(dict.fromkeys([name.lower(), name.capitalize(), name]))
        seqs = []
        for form in forms:
            ids = list(tokenizer(form, add_special_tokens=False)["input_ids"])
            if not ids:
                raise ValueError(f"label {name!r} tokenizes to nothing")
            seqs.append(ids + ([end_id] if end_id is not None else []))
        out.append(seqs)
    return out


def end_of_turn_id(tokenizer: Any) -> int:
    """The id of the first of :data:`END_OF_TURN_TOKENS` that ``tokenizer`` knows as one token."""
    vocab = tokenizer.get_vocab()
    for tok in END_OF_TURN_TOKENS:
        if tok in vocab:
            return int(vocab[tok])
    raise ValueError(f"the tokenizer knows none of {END_OF_TURN_TOKENS}; pass end_token explicitly or None")


# ---------------------------------------------------------------------------------------------------- model calls
@functools.lru_cache(maxsize=64)
def _forward_parameters(cls: type) -> frozenset[str]:
    return frozenset(inspect.signature(cls.forward).parameters)


def call_model(model: Any, *, cache: Any = None, keep_last_logits: bool = False, **kwargs: Any) -> Any:
    """``model(**kwargs)`` with ``cache`` passed under the keyword this transformers version uses (``cache`` in
    recent 5.x, ``past_key_values`` before) and, with ``keep_last_logits``, only the last position's logits computed
    where the model supports ``logits_to_keep``."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a peft wrapper passes **kwargs on
    params = _forward_parameters(type(base))
    if cache is not None:
        kwargs["cache" if "cache" in params else "past_key_values"] = cache
    if keep_last_logits and "logits_to_keep" in params:
        kwargs["logits_to_keep"] = 1
    return model(**kwargs)


def output_cache(out: Any) -> Any:
    """The key/value cache of a model output (``cache`` or ``past_key_values``), or ``None``."""
    return getattr(out, "cache", None) or getattr(out, "past_key_values", None)


def _variants(label_ids: Sequence[Any]) -> tuple[list[list[int]], list[int]]:
    variants: list[list[int]] = []
    owner: list[int] = []
    for c, entry in enumerate(label_ids):
        seqs = [list(entry)] if entry and isinstance(entry[0], (int, np.integer)) else [list(s) for s in entry]
        if not seqs or any(len(s) == 0 for s in seqs):
            raise ValueError(f"class {c}: label_token_ids must hold non-empty token-id sequences, got {entry!r}")
        variants.extend(seqs)
        owner.extend([c] * len(seqs))
    return variants, owner


def continuation_logprobs(model: Any, cache: Any, attention_mask: Any, next_positions: Any, last_logits: Any,
                          variants: Sequence[Sequence[int]], temperatures: Sequence[float]):
    """Log-probability that temperature-``T`` sampling continues each cached row with each token sequence.

    ``cache`` holds ``R`` rows with ``attention_mask`` ``(R, S)`` (0 = padding), ``next_positions`` ``(R,)`` the
    position id of the next token and ``last_logits`` ``(R, V)`` the logits after the last cached token. Returns a
    float32 tensor ``(len(temperatures), R, len(variants))`` of ``sum_t log_softmax(z_t / T)[v_t]``. The cache is
    consumed (repeated in place once per variant).
    """
    import torch

    device = last_logits.device
    temps = torch.tensor([float(t) for t in temperatures], dtype=torch.float32, device=device).view(-1, 1, 1)
    if bool((temps <= 0).any()):
        raise ValueError(f"temperatures must be > 0, got {list(temperatures)}")
    rows, k = last_logits.shape[0], len(variants)
    first_ids = torch.tensor([v[0] for v in variants], device=device)
    scaled = last_logits.float().unsqueeze(0) / temps                                   # (nT, R, V)
    seq_logp = (scaled - scaled.logsumexp(-1, keepdim=True))[:, :, first_ids]           # (nT, R, K)
    max_len = max(len(v) for v in variants)
    if max_len == 1:
        return seq_logp
    cache.batch_repeat_interleave(k)
    cont = torch.tensor([list(v[:-1]) + [v[0]] * (max_len - len(v)) for v in variants], device=device)  # (K, L-1)
    target = torch.tensor([list(v[1:]) + [v[0]] * (max_len - len(v)) for v in variants], device=device)
    valid = torch.tensor([[1.0] * (len(v) - 1) + [0.0] * (max_len - len(v)) for v in variants], device=device)
    cont_b = cont.repeat(rows, 1)                                                       # (R*K, L-1), row r*K + j
    full_mask = torch.cat([attention_mask.repeat_interleave(k, 0), torch.ones_like(cont_b)], dim=1)
    pos = next_positions.view(-1).repeat_interleave(k).unsqueeze(1) + torch.arange(max_len - 1, device=device)
    out = call_model(model, input_ids=cont_b, attention_mask=full_mask, position_ids=pos, cache=cache,
                     use_cache=True)
    logits = out.logits.float()                                                         # (R*K, L-1, V)
    tgt = target.repeat(rows, 1).unsqueeze(-1)
    w = valid.repeat(rows, 1)
    per_t = []
    for t in temperatures:  # one temperature at a time: the (R*K, L-1, V) logits are the large tensor here
        z = logits / float(t)
        tok = (z.gather(-1, tgt).squeeze(-1) - z.logsumexp(-1)) * w
        per_t.append(tok.sum(-1).view(rows, k))
    return seq_logp + torch.stack(per_t, 0)


def supports_tree(model: Any) -> bool:
    """Whether :func:`tree_logprobs` can run on ``model``: its attention takes a custom 4-D mask as given (the
    ``sdpa`` and ``eager`` implementations of transformers do; flash and flex attention do not)."""
    impl = getattr(getattr(model, "config", None), "_attn_implementation", None)
    return impl in ("sdpa", "eager")


def tree_logprobs(model: Any, cache: Any, prefix_mask: Any, suffixes: Sequence[Sequence[Sequence[int]]],
                  variants: Sequence[Sequence[int]], temperatures: Sequence[float], pad_id: int = 0):
    """Every branch's label continuations at every temperature in **one** forward pass over a shared cache.

    ``cache`` holds ``B`` rows (``prefix_mask`` ``(B, S)``, 0 = padding). Row ``b`` branches into
    ``len(suffixes[b])`` = ``A`` token sequences (each annotator prompt's own text, at least one token), and every
    branch continues with every ``variant`` (a label spelling + end of turn). All of them go into one sequence per row
    with a 4-D attention mask that lets each token see the prefix, its own branch and its own continuation (a token
    tree), so the prefix is never copied. Returns a float32 tensor ``(len(temperatures), B, A, len(variants))`` of
    ``sum_t log_softmax(z_t / T)[v_t]``: the log-probability that temperature-``T`` sampling after branch ``a``
    produces exactly ``v``. Needs :func:`supports_tree`; the cache is consumed.
    """
    import torch

    device = prefix_mask.device
    b_rows, n_branch = len(suffixes), len(suffixes[0])
    if any(len(row) != n_branch for row in suffixes) or any(len(s) == 0 for row in suffixes for s in row):
        raise ValueError("every row needs the same number of branches, each with at least one token")
    widths = [max(len(row[a]) for row in suffixes) for a in range(n_branch)]
    inputs = [list(v[:-1]) for v in variants]                                       # answer tokens fed back
    t_ans = sum(len(x) for x in inputs)
    starts = [int(x) for x in np.cumsum([0] + [w + t_ans for w in widths])]
    n_new = starts[-1]
    ids = np.full((b_rows, n_new), pad_id, dtype=np.int64)
    pos = np.zeros((b_rows, n_new), dtype=np.int64)
    allow = np.zeros((b_rows, n_new, n_new), dtype=bool)
    allow[:, np.arange(n_new), np.arange(n_new)] = True                             # padding sees itself only
    sees_prefix = np.zeros((b_rows, n_new), dtype=bool)
    prefix_len = prefix_mask.long().sum(-1).cpu().numpy()
    lower = np.tril(np.ones((n_new, n_new), dtype=bool))
    for b, row in enumerate(suffixes):
        p0 = int(prefix_len[b])
        for a, suffix in enumerate(row):
            end = starts[a] + widths[a]
            first = end - len(suffix)                                               # left-padded within the block
            ids[b, first:end] = suffix
            pos[b, first:end] = p0 + np.arange(len(suffix))
            allow[b, first:end, first:end] = lower[:len(suffix), :len(suffix)]
            sees_prefix[b, first:end] = True
            o = end
            for v in inputs:
                if v:
                    q = slice(o, o + len(v))
                    ids[b, q] = v
                    pos[b, q] = p0 + len(suffix) + np.arange(len(v))
                    allow[b, q, first:end] = True
                    allow[b, q, q] = lower[:len(v), :len(v)]
                    sees_prefix[b, q] = True
                o += len(v)
    import torch

    pm = prefix_mask.bool().cpu().numpy()
    mask = np.concatenate([sees_prefix[:, :, None] & pm[:, None, :], allow], axis=-1)
    mask = torch.from_numpy(mask).unsqueeze(1).to(device)                          # (B, 1, N, S + N)
    if getattr(model.config, "_attn_implementation", None) == "eager":
        dtype = next(model.parameters()).dtype
        mask = torch.zeros(mask.shape, dtype=dtype, device=device).masked_fill(~mask, torch.finfo(dtype).min)
    # logits needed: the end of each branch (first answer token) and each fed-back answer token; and the terms
    # (branch, variant, position among the kept logits, target token) whose sum is each continuation's log-prob
    keep: list[int] = []
    term_out, term_pos, term_tok = [], [], []
    for a in range(n_branch):
        end = starts[a] + widths[a]
        base = len(keep)
        keep.append(end - 1)
        keep.extend(range(end, end + t_ans))
        o = base + 1
        for j, v in enumerate(variants):
            term_out.append(a * len(variants) + j)
            term_pos.append(base)
            term_tok.append(v[0])
            for i, tok in enumerate(v[1:]):
                term_out.append(a * len(variants) + j)
                term_pos.append(o + i)
                term_tok.append(tok)
            o += len(v) - 1
    keep_t = torch.tensor(keep, device=device)
    kwargs = {}
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if "logits_to_keep" in _forward_parameters(type(base)):
        kwargs["logits_to_keep"] = keep_t
    out = call_model(model, input_ids=torch.from_numpy(ids).to(device), attention_mask=mask,
                     position_ids=torch.from_numpy(pos).to(device), cache=cache, use_cache=True, **kwargs)
    logits = out.logits if "logits_to_keep" in kwargs else out.logits[:, keep_t]
    logits = logits.float()                                                         # (B, len(keep), V)
    t_out = torch.tensor(term_out, device=device)
    t_pos = torch.tensor(term_pos, device=device)
    t_tok = torch.tensor(term_tok, device=device)
    res = []
    for t in temperatures:
        z = logits / float(t)
        terms = z[:, t_pos, t_tok] - z.logsumexp(-1)[:, t_pos]                     # (B, n_terms)
        total = torch.zeros((b_rows, n_branch * len(variants)), device=device).index_add_(1, t_out, terms)
        res.append(total.view(b_rows, n_branch, len(variants)))
    return torch.stack(res, 0)


def per_class(seq_logp: Any, owner: Sequence[int], n_classes: int):
    """``(..., n_spellings)`` -> ``(..., n_classes)`` by log-sum-exp over each class's spellings."""
    import torch

    owner_t = torch.tensor(list(owner), device=seq_logp.device)
    return torch.stack([torch.logsumexp(seq_logp[..., owner_t == c], dim=-1) for c in range(n_classes)], dim=-1)


def class_sequence_logprobs(model: Any, processor_inputs: Mapping[str, Any],
                            label_token_ids: Sequence[Sequence[int]] | Sequence[Sequence[Sequence[int]]]):
    """Full-sequence log-probability (temperature 1) of each class's answer after each prompt: ``(batch, n_classes)``.

    ``processor_inputs``: a *left-padded* batch from the processor (``input_ids``, ``attention_mask``, audio
    features). ``label_token_ids[c]`` is one token-id sequence, or a list of sequences (spellings, summed).
    Returned in float32 on the model's device; not wrapped in ``no_grad``.
    """
    import torch

    variants, owner = _variants(label_token_ids)
    n_classes = len(label_token_ids)
    inputs = dict(processor_inputs)
    input_ids = inputs["input_ids"]
    mask = inputs.get("attention_mask")
    if mask is None:
        mask = torch.ones_like(input_ids)
    if bool((mask[:, -1] == 0).any()):
        raise ValueError("processor_inputs must be left-padded (tokenizer.padding_side = 'left')")
    inputs["attention_mask"] = mask
    position_ids = (mask.long().cumsum(-1) - 1).clamp(min=0)
    if model.training and _checkpointing(model):
        return per_class(_full_sequence_logprobs(model, inputs, mask, variants), owner, n_classes)
    out = call_model(model, **inputs, position_ids=position_ids, use_cache=True, keep_last_logits=True)
    cache = output_cache(out)
    if max(len(v) for v in variants) > 1 and cache is None:
        return per_class(_full_sequence_logprobs(model, inputs, mask, variants), owner, n_classes)
    seq_logp = continuation_logprobs(model, cache, mask, mask.long().sum(-1), out.logits[:, -1, :], variants,
                                     (1.0,))[0]
    return per_class(seq_logp, owner, n_classes)


def _checkpointing(model: Any) -> bool:
    """Whether activation (gradient) checkpointing is on (transformers 5 name first, then the older one)."""
    for name in ("is_activation_checkpointing", "is_gradient_checkpointing"):
        try:
            return bool(getattr(model, name))
        except AttributeError:
            continue
    return False


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


def shared_prefix_length(sequences: Sequence[Sequence[int]], placeholder_ids: Sequence[int] = ()) -> int | None:
    """The number of leading tokens all ``sequences`` share, at most ``min(len) - 1`` (every sequence keeps at least
    one token of its own, whose logits start the answer), or ``None`` when a token of ``placeholder_ids`` (an audio
    placeholder) lies beyond that prefix in any sequence: then the audio cannot be encoded once for all of them.

    >>> shared_prefix_length([[1, 9, 5, 6], [1, 9, 5, 7, 8]], placeholder_ids=[9])
    3
    >>> shared_prefix_length([[1, 5, 9], [1, 6, 9]], placeholder_ids=[9]) is None
    True
    """
    if not sequences:
        raise ValueError("no sequences")
    n = min(len(s) for s in sequences) - 1
    first = sequences[0]
    for s in sequences[1:]:
        j = 0
        while j < n and s[j] == first[j]:
            j += 1
        n = j
    marks = set(int(x) for x in placeholder_ids)
    if marks and any(int(t) in marks for s in sequences for t in s[n:]):
        return None
    return n


def scores_to_distribution(logprobs: np.ndarray) -> np.ndarray:
    """Softmax of ``(..., n_classes)`` class log-probabilities over the class set (temperature 1).

    >>> scores_to_distribution(np.log(np.array([[0.2, 0.2, 0.1]]))).round(2)
    array([[0.4, 0.4, 0.2]])
    """
    from scipy.special import softmax

    return softmax(np.asarray(logprobs, dtype=np.float64), axis=-1)
