"""``expected`` mode on the tiny ALM: the exact expectation of the protocol's annotators.

- equals brute force (`brute_force_class_logprobs`: one uncached pass of prompt + answer per label spelling), in the
  shared-prefix layout (audio first: encoded once per utterance) and in the text-first layout (one pass per prompt);
- sampling many answers at two temperatures converges to it;
- it does not depend on which utterances share a batch.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import CLASSES
from hf_ambiguity.alm.prompts import AnnotatorSpec, PromptProtocol, annotator_specs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _items(n, seed=0, corpus="iemocap"):
    from hf_ambiguity.alm.base import Item

    rng = np.random.default_rng(seed)
    return [Item(f"u{i}", (0.1 * rng.standard_normal(6000 + 2500 * i)).astype(np.float32), 16000,
                 "some words" if i % 2 else "", f"spk{i}", tuple(CLASSES), corpus) for i in range(n)]


@pytest.mark.parametrize("protocol, path", [
    (PromptProtocol.project(), "tree"), (PromptProtocol.reference_structure(), "tree"),
    (PromptProtocol.project(), "eager"), (PromptProtocol.project(), "copy"),
], ids=["audio-first", "text-first", "eager-attention", "cache-copies"])
def test_expected_equals_brute_force(tiny_model, tiny_annotator, protocol, path, monkeypatch):
    """One token tree per utterance (sdpa or eager attention with a custom 4-D mask), or, for attention kernels
    without custom masks, copies of the cache per prompt and label: all equal to brute force."""
    from hf_ambiguity.alm import local
    from hf_ambiguity.alm.local import (EXPECTED_PER_PROMPT, EXPECTED_SHARED, TransformersAnnotator,
                                        brute_force_class_logprobs)

    alm = tiny_annotator.alm
    if path == "eager":
        alm = local.load_alm(tiny_model)
        alm.model.set_attn_implementation("eager")
    if path == "copy":
        monkeypatch.setattr(local, "supports_tree", lambda model: False)
    annot = TransformersAnnotator(alm)  # fresh provenance record
    specs = [annotator_specs(6)[i] for i in (0, 2, 5)]  # annotators 0 and 5: same focus, other temperature
    items = _items(2)
    got = annot.expected_batch(items, specs, protocol)
    assert got.shape == (2, 3, 4) and (np.exp(got).sum(-1) <= 1 + 1e-6).all()
    for b, item in enumerate(items):
        for j, spec in enumerate(specs):
            want = brute_force_class_logprobs(annot.alm, item, spec, protocol)
            np.testing.assert_allclose(got[b, j], want, atol=2e-4)
    path = EXPECTED_SHARED if protocol.layout == "audio-first" else EXPECTED_PER_PROMPT
    assert annot.provenance()["expected_mode_passes"] == [path]


def test_expected_does_not_depend_on_the_batch(tiny_annotator):
    specs = annotator_specs(5)
    items = _items(4)
    together = tiny_annotator.expected_batch(items, specs)
    alone = np.stack([tiny_annotator.expected_batch([it], specs)[0] for it in items])
    reordered = tiny_annotator.expected_batch(items[::-1], specs)[::-1]
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(together, reordered, atol=1e-5)
    subset = tiny_annotator.expected_batch(items[:2], specs[3:])
    np.testing.assert_allclose(subset, together[:2, 3:], atol=1e-5)


def test_sampling_converges_to_expected_mode_at_two_temperatures(tiny_model):
    """Teach the tiny model a label mixture (LM head only), then draw many sampled answers per temperature: the
    frequencies of the label answers match expected mode's renormalised distribution (base-2 JS < 0.01)."""
    import torch

    from hf_ambiguity.alm.base import Request
    from hf_ambiguity.alm.loading import build_inputs, load_alm
    from hf_ambiguity.alm.local import TransformersAnnotator
    from hf_ambiguity.alm.prompts import build_messages
    from hf_ambiguity.alm.scoring import class_sequence_logprobs, label_token_ids
    from hf_ambiguity.analysis.divergences import js_divergence

    alm = load_alm(tiny_model)  # a private copy: it gets trained
    item = _items(1)[0]
    focus = PromptProtocol.project().foci[1]
    label_ids = label_token_ids(alm.processor.tokenizer, CLASSES, end_token=alm.end_of_turn_token)
    target = torch.tensor([0.4, 0.3, 0.2, 0.1])
    inputs = build_inputs(alm, [build_messages(item.transcript, item.speaker, CLASSES, focus)], [item.audio])
    alm.model.requires_grad_(False)
    alm.model.lm_head.requires_grad_(True)
    opt = torch.optim.Adam(alm.model.lm_head.parameters(), lr=0.08)
    for _ in range(25):
        opt.zero_grad()
        (-(target * class_sequence_logprobs(alm.model, inputs, label_ids)[0]).sum()).backward()
        opt.step()
    annot = TransformersAnnotator(alm, max_new_tokens=6)
    dists = {}
    for temperature in (0.3, 1.0):
        spec = AnnotatorSpec(1, 1, focus, temperature)
        expected = np.exp(annot.expected_batch([item], [spec])[0, 0])
        assert expected.sum() > 0.9  # nearly every answer is exactly a label
        draws = [AnnotatorSpec(i, 1, focus, temperature) for i in range(400)]  # distinct seeds per draw
        answers = []
        for b in range(0, len(draws), 200):
            answers += annot.annotate_batch([Request(item, s, seed=5) for s in draws[b:b + 200]])
        exact = [a.lower() for a in answers if a.lower() in CLASSES]
        assert len(exact) > 350
        freq = np.array([exact.count(c) for c in CLASSES]) / len(exact)
        dists[temperature] = (freq, expected / expected.sum())
        assert js_divergence(freq[None], dists[temperature][1][None])[0] < 0.01, (temperature, dists[temperature])
    # the check tells the temperatures apart: the sampled answers at 0.3 are far from the expectation at 1.0
    assert js_divergence(dists[0.3][0][None], dists[1.0][1][None])[0] > 0.05
