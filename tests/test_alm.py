"""The ALM layer: reference prompt protocol, answer parsing, the tiny checkpoint through the user path, scoring."""

from __future__ import annotations


import numpy as np
import pytest

from helpers import CLASSES
from hf_ambiguity.alm import prompts
from hf_ambiguity.alm.parsing import parse_answer
from hf_ambiguity.alm.prompts import AnnotatorSpec, annotator_specs, annotator_temperature, build_messages

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------------------------- prompt protocol
def test_temperature_bands_foci_and_seeding():
    specs = annotator_specs(50, seed=3)
    for s in specs:
        lo, hi = prompts.TEMPERATURE_BANDS[s.index % 5]
        assert max(0.1, lo - 0.05) <= s.temperature <= min(1.0, hi + 0.05)
        assert s.focus == prompts.FOCI[s.index % 5] and s.focus_index == s.index % 5
    # same (seed, i) -> same temperature; the draw does not depend on N; another seed differs
    assert [s.temperature for s in annotator_specs(10, seed=3)] == [s.temperature for s in specs[:10]]
    assert annotator_temperature(7, seed=3) == specs[7].temperature
    assert [s.temperature for s in annotator_specs(10, seed=4)] != [s.temperature for s in specs[:10]]
    # band 5 is narrow: all of 0.9-0.93 ± 0.05 stays within [0.85, 0.98]; jitter really spreads values
    top = [s.temperature for s in specs if s.index % 5 == 4]
    assert min(top) >= 0.85 and max(top) <= 0.98 and len(set(top)) == len(top)
    with pytest.raises(ValueError, match="must be >= 1"):
        annotator_specs(0)


def test_user_prompt_follows_the_protocol():
    text = prompts.user_prompt("I can't believe it", "Ses01F", CLASSES, prompts.FOCI[1])
    assert "ONE emotion" in text and "Speaker: Ses01F" in text and "neutral, happy, angry, sad" in text
    assert prompts.FOCI[1] in text and "both the audio and the transcript" in text
    assert "answer with only the name of the emotion" in text
    no_text = prompts.user_prompt("", "spk", CLASSES, None)
    assert "audio alone" in no_text and "Transcript: (none)" in no_text and "None" not in no_text
    msgs = build_messages("hi", "s", CLASSES, prompts.FOCI[0])
    assert msgs[0] == {"role": "system", "content": prompts.SYSTEM_INSTRUCTION}
    assert [p["type"] for p in msgs[1]["content"]] == ["audio", "text"]


def test_prompt_hash_covers_every_field_that_reaches_the_model():
    base = prompts.PromptProtocol.project()
    assert prompts.prompt_hash() == base.hash()
    changed = [base.replace(foci=prompts.FOCI[:4] + ("Listen to the breathing.",)),
               base.replace(system=base.system + " "), base.replace(labels="corpus"),
               base.replace(label_order="alphabetical"), base.replace(layout="text-first"),
               base.replace(transcript_label="Utterance")]
    hashes = {p.hash() for p in changed}
    assert base.hash() not in hashes and len(hashes) == len(changed)
    assert base.replace(source="elsewhere.yaml").hash() == base.hash()  # where it came from is not the prompt


def test_reference_temperatures_are_the_reference_codes_values_bit_for_bit():
    """The reference seeds numpy's legacy global stream with the annotator index (reference_facts.md §3 table)."""
    table = [0.2312816374227069, 0.40543685028473064, 0.5397916036111899, 0.8309743627767255, 0.9337341200879826,
             0.18147186483568556, 0.461770010817318, 0.5432535370988029, 0.9215399468404565, 0.9004986838314448]
    ref = annotator_specs(10, seed=7, temperatures="reference")
    assert [s.temperature for s in ref] == table  # exact, and independent of the run seed
    assert annotator_specs(10, temperatures="project")[3].temperature != table[3]
    before = np.random.get_state()[1].copy()
    prompts.reference_temperature(3)
    assert np.array_equal(np.random.get_state()[1], before)  # numpy's global stream is left alone
    with pytest.raises(ValueError, match="temperatures must be one of"):
        annotator_specs(2, temperatures="paper")


def test_reference_structure_spells_orders_and_places_the_labels_like_the_reference():
    ref = prompts.PromptProtocol.reference_structure()
    iemo = ref.labels_for(CLASSES, "iemocap")
    assert iemo.spellings == ("Anger", "Happiness", "Neutral state", "Sadness")
    assert [CLASSES[c] for c in iemo.classes] == ["angry", "happy", "neutral", "sad"]
    np.testing.assert_array_equal(iemo.to_class_order(np.array([0.1, 0.2, 0.3, 0.4])), [0.3, 0.2, 0.1, 0.4])
    assert ref.labels_for(CLASSES, "msp-podcast").spellings == ("Angry", "Happy", "Neutral", "Sad")
    msp = ref.user_text("  so be it ", "7", CLASSES, prompts.FOCI[0], "msp-podcast")
    assert 'Utterance: "so be it"' in msp and "Angry, Happy, Neutral, Sad" in msp
    assert 'Transcript: "so be it"' in ref.user_text("so be it", "7", CLASSES, None, "iemocap")
    assert [p["type"] for p in ref.messages("x", "s", CLASSES, None, "iemocap")[1]["content"]] == ["text", "audio"]
    assert prompts.PromptProtocol.project().labels_for(CLASSES, "iemocap").spellings == tuple(CLASSES)


def test_prompt_file_sets_any_wording_and_is_validated(tmp_path):
    from hf_ambiguity.errors import ConfigError

    f = tmp_path / "prompt.yaml"
    f.write_text("structure: reference\nsystem: Be brief.\n"
                 "template: 'Name the feeling. {transcript_label}: {transcript} Options: {classes}. {focus}'\n"
                 "foci: [Listen., Read.]\nlabels: {iemocap: {neutral: Calm}}\n")
    p = prompts.load_prompt_file(f)
    assert p.system == "Be brief." and p.foci == ("Listen.", "Read.") and p.layout == "text-first"
    # sorted as the reference sorts its label list: by code point, so upper case comes first
    assert p.labels_for(CLASSES, "iemocap").spellings == ("Calm", "angry", "happy", "sad")
    assert p.source == str(f) and p.hash() != prompts.PromptProtocol.reference_structure().hash()
    assert [s.focus for s in annotator_specs(3, protocol=p)] == ["Listen.", "Read.", "Listen."]
    assert prompts.prompt_protocol("project", f) == p
    for text, match in (("tmeplate: x\n", "unknown prompt key 'tmeplate'"),
                        ("template: 'no list {focus}'\n", "must list the labels with {classes}"),
                        ("template: '{classes} {focus} {mood}'\n", r"unknown placeholder\(s\) \['mood'\]"),
                        ("foci: Listen.\n", "foci must be a list"),
                        ("layout: sideways\n", "layout must be 'audio-first' or 'text-first'"),
                        ("labels: [a, b]\n", "labels must be"),
                        ("structure: paper\n", "structure must be 'project' or 'reference'")):
        f.write_text(text)
        with pytest.raises(ConfigError, match=match) as info:
            prompts.load_prompt_file(f)
        assert str(f) in str(info.value)


# ----------------------------------------------------------------------------------------------- parsing
@pytest.mark.parametrize("answer, expected", [
    ("happy", "happy"), ("  Happy.\n", "happy"), ("ANGRY", "angry"), ('"sad"', "sad"),
    ("The emotion is sad.", "sad"), ("angry, or maybe sad", "angry"), ("Emotion: neutral", "neutral"),
    ("", None), (None, None), ("joyful", None), ("�\x19 frustra", None),
])
def test_parse_answer(answer, expected):
    assert parse_answer(answer, CLASSES) == expected


@pytest.mark.parametrize("answer, expected", [
    ("happy", "happy"), ("  Happy \n", "happy"), ("Happy.", "happy"), ("sad or happy", "happy"),
    ("The emotion is sad.", "sad"), ("angry, or maybe sad", "angry"), ('"neutral"', "neutral"), ("joyful", None),
])
def test_parse_answer_reference_rule_takes_the_first_label_in_list_order(answer, expected):
    assert parse_answer(answer, CLASSES, rule="reference") == expected


def test_parse_prefers_the_longest_name_at_the_same_position():
    assert parse_answer("frustrated", ["frustrated", "frustrate"]) == "frustrated"
    assert parse_answer("he is excited", ["happy", "excited"]) == "excited"


# ----------------------------------------------------------------------------------------------- tiny checkpoint
def test_tiny_checkpoint_loads_through_the_user_path(tiny_model):
    from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor

    from hf_ambiguity.tiny_alm import build_tiny_qwen2_audio

    processor = AutoProcessor.from_pretrained(tiny_model)
    model = Qwen2AudioForConditionalGeneration.from_pretrained(tiny_model)
    assert isinstance(processor, Qwen2AudioProcessor) and processor.feature_extractor.feature_size == 128
    assert sum(f.stat().st_size for f in tiny_model.iterdir()) < 5e6
    tok = processor.tokenizer
    for t in ("<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"):
        assert tok.convert_tokens_to_ids(t) != tok.unk_token_id and len(tok.tokenize(t)) == 1
    assert model.config.audio_token_id == tok.convert_tokens_to_ids("<|AUDIO|>")
    text = processor.apply_chat_template(build_messages("hi", "s", CLASSES, None), add_generation_prompt=True,
                                         tokenize=False)
    assert "Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>" in text and text.endswith("<|im_start|>assistant\n")
    # cached: a second build returns the same folder untouched
    mtime = (tiny_model / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_qwen2_audio(tiny_model) == tiny_model
    assert (tiny_model / "model.safetensors").stat().st_mtime_ns == mtime


def test_tiny_build_is_seeded_and_leaves_the_global_rng_alone(tiny_model, tmp_path):
    import torch
    from safetensors.numpy import load_file

    from hf_ambiguity.tiny_alm import build_tiny_qwen2_audio

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    again = build_tiny_qwen2_audio(tmp_path / "again")  # same seed, fresh folder: the same weights
    assert torch.equal(torch.rand(3), expected)
    a, b = load_file(tiny_model / "model.safetensors"), load_file(again / "model.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_tiny_builder_refuses_a_foreign_non_empty_folder(tmp_path):
    from hf_ambiguity.tiny_alm import build_tiny_qwen2_audio

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        build_tiny_qwen2_audio(tmp_path)


def test_load_alm_refuses_unknown_families(tmp_path):
    from transformers import BertConfig

    from hf_ambiguity.alm import load_alm

    BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="supported audio-language families"):
        load_alm(tmp_path)


def test_load_alm_uses_float32_on_cpu(tiny_annotator):
    import torch

    alm = tiny_annotator.alm
    assert alm.device == "cpu" and alm.model.dtype == torch.float32 and alm.family == "qwen2_audio"
    assert alm.processor.tokenizer.padding_side == "left"


# ----------------------------------------------------------------------------------------------- scoring
def _items(n, seed=0):
    from hf_ambiguity.alm.base import Item

    rng = np.random.default_rng(seed)
    return [Item(f"u{i}", (0.1 * rng.standard_normal(8000 + 3000 * i)).astype(np.float32), 16000,
                 "some words" if i % 2 else "", "spk", tuple(CLASSES)) for i in range(n)]


def test_class_sequence_logprobs_equals_brute_force_per_sequence(tiny_annotator):
    """Batched, left-padded, KV-cache scoring == summing token log-probs of each full prompt+answer sequence."""
    import torch

    from hf_ambiguity.alm.loading import build_inputs
    from hf_ambiguity.alm.scoring import class_sequence_logprobs, label_token_ids

    alm = tiny_annotator.alm
    label_ids = label_token_ids(alm.processor.tokenizer, CLASSES)
    assert max(len(s) for c in label_ids for s in c) >= 3  # multi-token labels are exercised
    items = _items(3)
    convs = [build_messages(it.transcript, it.speaker, CLASSES, None) for it in items]
    with torch.no_grad():
        batched = class_sequence_logprobs(alm.model, build_inputs(alm, convs, [it.audio for it in items]), label_ids)
        for b, it in enumerate(items):
            one = build_inputs(alm, convs[b:b + 1], [it.audio])
            n_prompt = one["input_ids"].shape[1]
            for c, spellings in enumerate(label_ids):
                per_spelling = []
                for seq in spellings:
                    ids = torch.cat([one["input_ids"], torch.tensor([seq])], dim=1)
                    logits = alm.model(input_ids=ids, attention_mask=torch.ones_like(ids),
                                       input_features=one["input_features"],
                                       feature_attention_mask=one["feature_attention_mask"]).logits[0]
                    lp = logits.log_softmax(-1)
                    per_spelling.append(sum(lp[n_prompt - 1 + j, t].item() for j, t in enumerate(seq)))
                assert batched[b, c].item() == pytest.approx(np.logaddexp.reduce(per_spelling), abs=2e-3)


def test_class_sequence_logprobs_rejects_right_padding(tiny_annotator):
    import torch

    from hf_ambiguity.alm.scoring import class_sequence_logprobs

    inputs = {"input_ids": torch.tensor([[5, 6, 0]]), "attention_mask": torch.tensor([[1, 1, 0]])}
    with pytest.raises(ValueError, match="left-padded"):
        class_sequence_logprobs(tiny_annotator.alm.model, inputs, [[5], [6]])


def test_score_matches_sampled_frequencies_at_temperature_one(tiny_model):
    """Teach the tiny model a label mixture (LM head only), then compare score mode with 300 temperature-1 samples.

    Score mode is the sampled answer distribution at temperature 1 conditioned on the answer being a class name;
    sampling here is the same seeded per-row sampler ``sample`` mode uses (temperature forced to 1).
    """
    import torch

    from hf_ambiguity.alm.base import Request
    from hf_ambiguity.alm.loading import build_inputs, load_alm
    from hf_ambiguity.alm.local import TransformersAnnotator
    from hf_ambiguity.alm.scoring import class_sequence_logprobs, label_token_ids

    alm = load_alm(tiny_model)  # a private copy: it gets trained
    item = _items(1)[0]
    label_ids = label_token_ids(alm.processor.tokenizer, CLASSES)
    target = torch.tensor([0.45, 0.3, 0.15, 0.1])
    inputs = build_inputs(alm, [build_messages(item.transcript, item.speaker, CLASSES, None)], [item.audio])
    alm.model.requires_grad_(False)
    alm.model.lm_head.requires_grad_(True)
    opt = torch.optim.Adam(alm.model.lm_head.parameters(), lr=0.08)
    for _ in range(25):
        opt.zero_grad()
        loss = -(target * class_sequence_logprobs(alm.model, inputs, label_ids)[0]).sum()
        loss.backward()
        opt.step()
    annot = TransformersAnnotator(alm, max_new_tokens=6)
    scored = np.exp(annot.score_batch([item])[0])
    assert scored.sum() > 0.8  # the mixture was learnt: class names carry most of the mass
    dist = scored / scored.sum()
    specs = [AnnotatorSpec(i, 0, None, 1.0) for i in range(300)]
    answers = []
    for b in range(0, len(specs), 150):
        answers += annot.annotate_batch([Request(item, s, seed=11) for s in specs[b:b + 150]])
    exact = [a.lower() for a in answers if a.lower() in CLASSES]
    assert len(exact) > 220
    freq = np.array([exact.count(c) for c in CLASSES]) / len(exact)
    np.testing.assert_allclose(freq, dist, atol=0.09)


def test_sampling_ignores_the_checkpoints_generation_defaults(tiny_model):
    """A chat checkpoint's generation_config.json (repetition penalty, n-gram blocking, suppressed tokens, sampling
    settings) must not reshape the protocol's answers: only the annotator's temperature applies."""
    from hf_ambiguity.alm.base import Request
    from hf_ambiguity.alm.loading import load_alm
    from hf_ambiguity.alm.local import TransformersAnnotator

    annot = TransformersAnnotator(load_alm(tiny_model))  # a private copy: its generation_config gets changed
    reqs = [Request(it, s) for it in _items(2) for s in annotator_specs(3)]
    clean = annot.annotate_batch(reqs)
    gc = annot.alm.model.generation_config
    vocab = annot.alm.processor.tokenizer.get_vocab()
    gc.repetition_penalty, gc.no_repeat_ngram_size = 50.0, 1
    gc.do_sample, gc.top_k, gc.top_p, gc.temperature = True, 2, 0.1, 0.01
    gc.suppress_tokens = sorted(vocab.values())[: len(vocab) // 2]
    assert annot.annotate_batch(reqs) == clean
    assert annot.alm.model.generation_config is gc and gc.repetition_penalty == 50.0  # the caller's config is kept


# ----------------------------------------------------------------------------------------------- second family
def test_audio_flamingo3_family_through_the_same_path(tmp_path_factory):
    """The second transformers-native family: load, sample (seeded, batch-independent) and score (== brute force)."""
    import torch

    from hf_ambiguity.alm.base import Request
    from hf_ambiguity.alm.local import TransformersAnnotator
    from hf_ambiguity.alm.loading import build_inputs
    from hf_ambiguity.tiny_alm import build_tiny_audio_flamingo3

    path = build_tiny_audio_flamingo3(tmp_path_factory.getbasetemp() / "tiny-af3")
    annot = TransformersAnnotator(str(path))
    assert annot.alm.family == "audioflamingo3"
    items = _items(2)
    reqs = [Request(it, s) for it in items for s in annotator_specs(3)]
    answers = annot.annotate_batch(reqs)
    assert len(answers) == 6 and all(isinstance(a, str) for a in answers)
    assert annot.annotate_batch(reqs[2:4]) == answers[2:4]
    scores = annot.score_batch(items)
    assert scores.shape == (2, 4) and np.isfinite(scores).all()
    # brute force for item 1, class 'sad'
    from hf_ambiguity.alm.scoring import label_token_ids

    seqs = label_token_ids(annot.alm.processor.tokenizer, CLASSES)[3]
    one = build_inputs(annot.alm, [build_messages(items[1].transcript, "spk", CLASSES, None)], [items[1].audio])
    per = []
    with torch.no_grad():
        for seq in seqs:
            ids = torch.cat([one["input_ids"], torch.tensor([seq])], dim=1)
            lp = annot.alm.model(input_ids=ids, attention_mask=torch.ones_like(ids),
                                 input_features=one["input_features"],
                                 input_features_mask=one["input_features_mask"]).logits[0].log_softmax(-1)
            n = one["input_ids"].shape[1]
            per.append(sum(lp[n - 1 + j, t].item() for j, t in enumerate(seq)))
    assert scores[1, 3] == pytest.approx(np.logaddexp.reduce(per), abs=2e-3)


def test_scoring_without_a_cache_under_gradient_checkpointing(tiny_model):
    """Training with gradient checkpointing returns no KV cache: scores must be the same and differentiable."""
    import torch

    from hf_ambiguity.alm.loading import build_inputs, load_alm
    from hf_ambiguity.alm.scoring import class_sequence_logprobs, label_token_ids

    alm = load_alm(tiny_model)
    items = _items(2)
    inputs = build_inputs(alm, [build_messages(it.transcript, "spk", CLASSES, None) for it in items],
                          [it.audio for it in items])
    label_ids = label_token_ids(alm.processor.tokenizer, CLASSES)
    with torch.no_grad():
        reference = class_sequence_logprobs(alm.model, inputs, label_ids)
    enable = getattr(alm.model, "activation_checkpointing_enable", None) or alm.model.gradient_checkpointing_enable
    enable()
    alm.model.train()
    scores = class_sequence_logprobs(alm.model, inputs, label_ids)
    torch.testing.assert_close(scores, reference, atol=2e-3, rtol=0)
    scores.sum().backward()
    assert alm.model.lm_head.weight.grad is not None and alm.model.lm_head.weight.grad.abs().sum() > 0
