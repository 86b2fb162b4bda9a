"""Every audio-language family of :data:`hf_ambiguity.alm.loading.FAMILIES` on a tiny random-weight checkpoint built
from its config (:mod:`hf_ambiguity.tiny_alm`), through the user path (``load_alm``) in all three modes: sampled
answers that do not depend on the batch, and ``score`` / ``expected`` log-probabilities equal to brute force (one
uncached forward pass per prompt, label spelling and temperature). Families whose processor needs a package that is
not installed are skipped with the package named."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from hf_ambiguity.alm.prompts import PromptProtocol, annotator_specs
from test_alm_expected import _items

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: family -> (builder in hf_ambiguity.tiny_alm, packages its processor or model needs beyond the core install)
FAMILIES = {
    "qwen2_audio": ("build_tiny_qwen2_audio", ()),
    "audioflamingo3": ("build_tiny_audio_flamingo3", ()),
    "qwen2_5_omni": ("build_tiny_qwen2_5_omni", ("torchvision",)),
    "phi4_multimodal": ("build_tiny_phi4_multimodal", ("torchvision",)),
    "granite_speech": ("build_tiny_granite_speech", ("torchaudio",)),
    "gemma3n": ("build_tiny_gemma3n", ("timm", "torchvision")),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_in_all_three_modes(family, tmp_path_factory):
    from hf_ambiguity import tiny_alm
    from hf_ambiguity.alm.base import Request
    from hf_ambiguity.alm.local import TransformersAnnotator, brute_force_class_logprobs

    builder, needs = FAMILIES[family]
    missing = [p for p in needs if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"{family} needs {missing} (the 'models' extra)")
    path = getattr(tiny_alm, builder)(tmp_path_factory.getbasetemp() / f"tiny-{family}")
    annot = TransformersAnnotator(str(path))
    assert annot.alm.family == family
    items = _items(2)
    specs = [annotator_specs(6)[i] for i in (0, 2, 5)]
    # sample: one answer per request, the same whichever requests share the batch
    reqs = [Request(it, s, seed=3) for it in items for s in specs]
    answers = annot.annotate_batch(reqs)
    assert len(answers) == 6 and all(isinstance(a, str) for a in answers)
    assert annot.annotate_batch(reqs[2:5]) == answers[2:5]
    # score: the annotator-neutral prompt at temperature 1
    neutral = type(specs[0])(0, 0, None, 1.0)
    scores = annot.score_batch(items)
    for b, it in enumerate(items):
        want = brute_force_class_logprobs(annot.alm, it, neutral, PromptProtocol.project())
        np.testing.assert_allclose(scores[b], want, rtol=1e-4, atol=2e-4)  # float32, batched vs alone
    # expected: every annotator's focus and temperature
    got = annot.expected_batch(items, specs)
    for b, it in enumerate(items):
        for j, spec in enumerate(specs):
            want = brute_force_class_logprobs(annot.alm, it, spec, PromptProtocol.project())
            np.testing.assert_allclose(got[b, j], want, rtol=1e-4, atol=2e-4)


def test_unsupported_families_are_refused_with_the_reason_and_the_list(tmp_path):
    from transformers import BertConfig, VoxtralConfig

    from hf_ambiguity.alm import load_alm

    VoxtralConfig().save_pretrained(tmp_path / "voxtral")
    with pytest.raises(ValueError, match="voxtral.*not supported yet: .*mistral-common"):
        load_alm(tmp_path / "voxtral")
    BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8).save_pretrained(
        tmp_path / "bert")
    with pytest.raises(ValueError, match=r"supported audio-language families are: qwen2_audio .*gemma3n .*"
                                         r"Speech-recognition-only models"):
        load_alm(tmp_path / "bert")
