"""A tiny random-weight Qwen2-Audio checkpoint, built offline, for tests, the demo run and training smoke tests.

Why: the real Qwen2-Audio-7B-Instruct is 15 GB and cannot be downloaded in CI. This module builds the *same
architecture* (``Qwen2AudioForConditionalGeneration``: Whisper-like audio encoder + Qwen2 decoder) with a few
layers and a small hidden size, a byte-level BPE tokenizer trained with the ``tokenizers`` library on a small
in-code corpus (emotion words, chat-template special tokens), a ``WhisperFeatureExtractor`` with 128 mel bins and a
``Qwen2AudioProcessor`` carrying Qwen2-Audio-Instruct's chat template — all written with ``save_pretrained`` so
that the code under test goes through the exact user path::

    processor = AutoProcessor.from_pretrained(path)
    model = Qwen2AudioForConditionalGeneration.from_pretrained(path)

Its answers are noise (random weights); what it exercises is the plumbing, the parser and the invalid counts.
The only deliberate difference to the full model: the feature extractor's window is ``CHUNK_SECONDS`` (5 s)
instead of 30 s, and the encoder's ``max_source_positions`` matches it (250), so a CPU forward pass is cheap.
Clips longer than the window are truncated by the feature extractor, exactly as the real model truncates at 30 s.

The build is cached: a folder that already holds a complete checkpoint built with the same seed and builder
version is reused as is.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "build_tiny_qwen2_audio", "build_tiny_audio_flamingo3", "build_tiny_qwen2_5_omni", "tiny_qwen2_audio_processor",
    "build_tiny_phi4_multimodal", "build_tiny_granite_speech", "CHAT_TEMPLATE", "OMNI_CHAT_TEMPLATE",
    "PHI4_CHAT_TEMPLATE", "GRANITE_CHAT_TEMPLATE", "build_tiny_gemma3n", "GEMMA3N_CHAT_TEMPLATE",
    "AF3_CHAT_TEMPLATE", "SPECIAL_TOKENS", "CHUNK_SECONDS", "BUILD_VERSION",
]

#: Bumped whenever the tiny checkpoint changes, so that cached folders from an older build are rebuilt.
BUILD_VERSION = 1
#: Length of the feature extractor's window (the real model uses 30 s).
CHUNK_SECONDS = 5
_MARKER = "tiny_alm_build.json"

#: Special tokens of Qwen2-Audio-Instruct's tokenizer that the chat template and processor use.
SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>",
)

#: Qwen2-Audio-7B-Instruct's chat template (ChatML with an ``Audio k: <|audio_bos|><|AUDIO|><|audio_eos|>`` line
#: per audio part, and a default system message when none is given).
CHAT_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if 'audio' in content or 'audio_url' in content or content['type'] == 'audio' %}"
    "{% set audio_count.value = audio_count.value + 1 %}"
    "Audio {{ audio_count.value }}: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{% elif 'text' in content %}"
    "{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "<|im_start|>assistant\n"
    "{% endif %}"
)

_EMOTIONS = (
    "neutral happy angry sad excited frustrated fear surprise disgust contempt other happiness anger sadness "
    "frustration surprised disgusted fearful calm"
).split()

_CORPUS = [
    "You are an expert in emotion analysis. Give accurate and careful judgments.",
    "Listen to the audio clip and analyse the utterance. Select the one most dominant emotion.",
    "Transcript: Speaker: Possible emotions: Answer with only the emotion name.",
    "Focus on the tone of voice, the pitch, the loudness, the speaking rate and the words that are said.",
    "Use both the audio and the text. If there is no transcript, use the audio only. Choose only from the list.",
    "I can't believe you did that. Well, that is fine with me. Oh no, not again. What a wonderful day!",
    "You are a helpful assistant. Audio 1: system user assistant",
    " ".join(_EMOTIONS), " ".join(e.capitalize() for e in _EMOTIONS), ", ".join(_EMOTIONS),
    "0 1 2 3 4 5 6 7 8 9 . , : ; ! ? ' \" - ( ) [ ]",
]


#: ChatML with the audio part rendered as Audio Flamingo 3's ``<sound>`` placeholder (before the text of its turn).
AF3_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}"
    "{% for content in message['content'] if content['type'] == 'audio' %}<sound>{% endfor %}"
    "{% for content in message['content'] if content['type'] == 'text' %}{{ content['text'] }}{% endfor %}"
    "{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _is_complete(folder: Path, seed: int) -> bool:
    marker = folder / _MARKER
    if not marker.is_file():
        return False
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    needed = ("config.json", "processor_config.json", "tokenizer_config.json", "tokenizer.json")
    has_weights = any(folder.glob("*.safetensors"))
    return (info.get("seed") == seed and info.get("version") == BUILD_VERSION and has_weights
            and all((folder / n).is_file() for n in needed))


def _train_tokenizer(vocab_size: int = 600, extra_special: tuple[str, ...] = (), named: dict | None = None):
    """Byte-level BPE trained on :data:`_CORPUS`, wrapped as transformers' ``Qwen2Tokenizer``."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=1, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 3, trainer=trainer)
    model_state = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model_state["merges"]]
    tokenizer = Qwen2Tokenizer(
        vocab=model_state["vocab"], merges=merges,
        unk_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIAL_TOKENS[1:]) + list(extra_special),
        model_max_length=8192, errors="replace", **({"model_specific_special_tokens": named} if named else {}),
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:]) + list(extra_special)})
    return tokenizer


def build_tiny_qwen2_audio(out_dir: str | os.PathLike, *, seed: int = 0) -> Path:
    """Build (or reuse) a tiny random-weight Qwen2-Audio checkpoint + processor in ``out_dir``; return its path.

    The folder is complete when it holds the model weights and config, the processor files and a marker naming
    the seed and :data:`BUILD_VERSION`; a complete folder is returned untouched (cheap to call from every test).
    The build is written to a temporary sibling folder and renamed into place, so a killed build never leaves a
    half-written folder that looks complete. A non-empty ``out_dir`` that is not a complete tiny checkpoint is
    refused instead of being overwritten.
    """
    out = Path(out_dir)
    if _is_complete(out, seed):
        return out

    from transformers import Qwen2AudioConfig, Qwen2AudioEncoderConfig, Qwen2AudioForConditionalGeneration, Qwen2Config

    _prepare_folder(out)
    processor = tiny_qwen2_audio_processor()
    tokenizer = processor.tokenizer
    audio_token_id = tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    max_source_positions = CHUNK_SECONDS * 100 // 2  # mel frames (100/s) halved by the encoder's stride-2 conv
    config = Qwen2AudioConfig(
        audio_config=Qwen2AudioEncoderConfig(
            num_mel_bins=128, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64, d_model=32,
            max_source_positions=max_source_positions,
        ),
        text_config=Qwen2Config(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
            tie_word_embeddings=False, eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
            pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
        ),
        audio_token_index=audio_token_id,
    )
    return _seeded_model_saved(
        out, seed, Qwen2AudioForConditionalGeneration, config, processor,
        eos=[tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")],
        pad=tokenizer.pad_token_id, bos_token_id=None)


def tiny_qwen2_audio_processor(chunk_seconds: int = CHUNK_SECONDS):
    """The tiny checkpoint's ``Qwen2AudioProcessor`` (small BPE tokenizer, Qwen2-Audio-Instruct's chat template,
    128-bin Whisper features over a ``chunk_seconds`` window — 30 for the real model's window), built in memory."""
    from transformers import Qwen2AudioProcessor, WhisperFeatureExtractor

    feature_extractor = WhisperFeatureExtractor(
        feature_size=128, sampling_rate=16000, hop_length=160, chunk_length=chunk_seconds, n_fft=400,
        padding_value=0.0, return_attention_mask=True,
    )
    return Qwen2AudioProcessor(feature_extractor=feature_extractor, tokenizer=_train_tokenizer(),
                               chat_template=CHAT_TEMPLATE)


def _seeded_model_saved(out: Path, seed: int, model_class: Any, config: Any, processor: Any, *, eos: list[int],
                        pad: int | None, generating_part: str | None = None, **generation: Any) -> Path:
    """``model_class(config)`` with random weights seeded by ``seed`` (without resetting the caller's global RNG),
    its generation config set to stop at the ``eos`` ids and pad with ``pad`` (on ``model.<generating_part>`` for
    models whose text generator is a part, e.g. Qwen2.5-Omni's thinker; ``generation``: further fields), saved
    with ``processor`` into ``out`` atomically."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config).eval()
    gen = (getattr(model, generating_part) if generating_part else model).generation_config
    gen.eos_token_id = list(eos)
    gen.pad_token_id = pad
    for key, value in generation.items():
        setattr(gen, key, value)
    return _save_atomically(out, seed, model, processor)


def _save_atomically(out: Path, seed: int, *objects) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for obj in objects:
            obj.save_pretrained(tmp)
        (tmp / _MARKER).write_text(json.dumps({"seed": seed, "version": BUILD_VERSION}))
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _prepare_folder(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if (out / _MARKER).is_file():
            shutil.rmtree(out)
        else:
            raise FileExistsError(
                f"{out} is not empty and is not a tiny checkpoint built here; pass an empty or new folder"
            )


def build_tiny_audio_flamingo3(out_dir: str | os.PathLike, *, seed: int = 0) -> Path:
    """Build (or reuse) a tiny random-weight Audio Flamingo 3 (``AudioFlamingo3ForConditionalGeneration``) + processor.

    Same recipe and caching as :func:`build_tiny_qwen2_audio`: a Whisper-like encoder, a projector and a small Qwen2
    decoder; the processor is ``AudioFlamingo3Processor`` (``<sound>`` placeholder, 128 mel bins, a 5 s window) with
    :data:`AF3_CHAT_TEMPLATE`. It exercises the second transformers-native ALM family of :mod:`hf_ambiguity.alm`.
    """
    out = Path(out_dir)
    if _is_complete(out, seed):
        return out

    from transformers import (
        AudioFlamingo3Config, AudioFlamingo3EncoderConfig, AudioFlamingo3ForConditionalGeneration,
        AudioFlamingo3Processor, Qwen2Config, WhisperFeatureExtractor,
    )

    _prepare_folder(out)
    tokenizer = _train_tokenizer(extra_special=("<sound>",))
    feature_extractor = WhisperFeatureExtractor(
        feature_size=128, sampling_rate=16000, hop_length=160, chunk_length=CHUNK_SECONDS, n_fft=400,
        padding_value=0.0, return_attention_mask=True,
    )
    processor = AudioFlamingo3Processor(feature_extractor=feature_extractor, tokenizer=tokenizer,
                                        chat_template=AF3_CHAT_TEMPLATE, max_audio_len=CHUNK_SECONDS * 2)
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    config = AudioFlamingo3Config(
        audio_config=AudioFlamingo3EncoderConfig(
            num_mel_bins=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, hidden_size=32,
            max_source_positions=CHUNK_SECONDS * 100 // 2,
        ),
        text_config=Qwen2Config(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=False,
            eos_token_id=im_end, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
        ),
        audio_token_id=tokenizer.convert_tokens_to_ids("<sound>"),
    )
    return _seeded_model_saved(out, seed, AudioFlamingo3ForConditionalGeneration, config, processor,
                               eos=[im_end, tokenizer.convert_tokens_to_ids("<|endoftext|>")],
                               pad=tokenizer.pad_token_id)


#: ChatML with every audio part rendered as Qwen2.5-Omni's ``<|audio_bos|><|AUDIO|><|audio_eos|>``, in content order.
OMNI_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'audio' %}<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_qwen2_5_omni(out_dir: str | os.PathLike, *, seed: int = 0) -> Path:
    """Build (or reuse) a tiny random-weight Qwen2.5-Omni (``Qwen2_5OmniForConditionalGeneration`` without the speech
    generator, as :func:`hf_ambiguity.alm.load_alm` loads it) + ``Qwen2_5OmniProcessor``; same recipe and caching as
    :func:`build_tiny_qwen2_audio` (audio encoder, a tiny vision tower the processor needs, a small decoder with
    multimodal rotary positions)."""
    out = Path(out_dir)
    if _is_complete(out, seed):
        return out

    from transformers import (
        Qwen2_5OmniConfig, Qwen2_5OmniForConditionalGeneration, Qwen2_5OmniProcessor, WhisperFeatureExtractor,
    )
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil, Qwen2VLVideoProcessor

    _prepare_folder(out)
    extra = ("<|IMAGE|>", "<|VIDEO|>", "<|vision_bos|>", "<|vision_eos|>")
    tokenizer = _train_tokenizer(extra_special=extra, named={
        "image_token": "<|IMAGE|>", "audio_token": "<|AUDIO|>", "video_token": "<|VIDEO|>",
        "vision_bos_token": "<|vision_bos|>", "vision_eos_token": "<|vision_eos|>",
        "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>",
    })
    feature_extractor = WhisperFeatureExtractor(
        feature_size=128, sampling_rate=16000, hop_length=160, chunk_length=CHUNK_SECONDS, n_fft=400,
        padding_value=0.0, return_attention_mask=True,
    )
    processor = Qwen2_5OmniProcessor(image_processor=Qwen2VLImageProcessorPil(),
                                     video_processor=Qwen2VLVideoProcessor(), feature_extractor=feature_extractor,
                                     tokenizer=tokenizer, chat_template=OMNI_CHAT_TEMPLATE)
    ids = tokenizer.convert_tokens_to_ids
    im_end = ids("<|im_end|>")
    thinker = {
        "audio_config": {"num_mel_bins": 128, "encoder_layers": 2, "encoder_attention_heads": 2,
                         "encoder_ffn_dim": 64, "d_model": 32, "max_source_positions": CHUNK_SECONDS * 100 // 2,
                         "n_window": 50, "output_dim": 64},
        "vision_config": {"depth": 1, "hidden_size": 32, "intermediate_size": 32, "num_heads": 2,
                          "out_hidden_size": 64, "fullatt_block_indexes": [0]},
        "text_config": {"vocab_size": len(tokenizer), "hidden_size": 64, "intermediate_size": 128,
                        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                        "max_position_embeddings": 4096, "tie_word_embeddings": False, "eos_token_id": im_end,
                        "pad_token_id": tokenizer.pad_token_id,
                        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}},
        "audio_token_index": ids("<|AUDIO|>"), "image_token_index": ids("<|IMAGE|>"),
        "video_token_index": ids("<|VIDEO|>"), "audio_start_token_id": ids("<|audio_bos|>"),
        "audio_end_token_id": ids("<|audio_eos|>"), "vision_start_token_id": ids("<|vision_bos|>"),
        "vision_end_token_id": ids("<|vision_eos|>"), "user_token_id": ids("user") if "user" in
        tokenizer.get_vocab() else 0,
    }
    config = Qwen2_5OmniConfig(thinker_config=thinker, enable_audio_output=False)
    return _seeded_model_saved(out, seed, Qwen2_5OmniForConditionalGeneration, config, processor,
                               eos=[im_end, tokenizer.pad_token_id], pad=tokenizer.pad_token_id,
                               generating_part="thinker")


#: Phi-4-multimodal's turn format (``<|system|>``, ``<|user|>``, ``<|assistant|>``, ``<|end|>``) with each audio part
#: rendered as the processor's audio token, in content order.
PHI4_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'audio' %}<|endoftext11|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|end|>"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tiny_phi4_multimodal(out_dir: str | os.PathLike, *, seed: int = 0) -> Path:
    """Build (or reuse) a tiny random-weight Phi-4-multimodal (``Phi4MultimodalForCausalLM``) +
    ``Phi4MultimodalProcessor`` (its image processor needs torchvision); same recipe and caching as
    :func:`build_tiny_qwen2_audio`: a small conformer audio encoder, a one-layer vision tower, a small Phi-3 decoder.
    The audio placeholder is ``<|endoftext11|>`` and the image placeholder ``<|endoftext10|>``, as in the real
    checkpoint's tokenizer."""
    out = Path(out_dir)
    if _is_complete(out, seed):
        return out

    from transformers import (
        Phi4MultimodalConfig, Phi4MultimodalFeatureExtractor, Phi4MultimodalForCausalLM, Phi4MultimodalImageProcessor,
        Phi4MultimodalProcessor,
    )

    _prepare_folder(out)
    extra = ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|endoftext10|>", "<|endoftext11|>")
    tokenizer = _train_tokenizer(extra_special=extra,
                                 named={"image_token": "<|endoftext10|>", "audio_token": "<|endoftext11|>"})
    processor = Phi4MultimodalProcessor(image_processor=Phi4MultimodalImageProcessor(),
                                        audio_processor=Phi4MultimodalFeatureExtractor(), tokenizer=tokenizer)
    processor.chat_template = PHI4_CHAT_TEMPLATE  # the constructor does not take it
    ids = tokenizer.convert_tokens_to_ids
    end = ids("<|end|>")
    config = Phi4MultimodalConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=4096, original_max_position_embeddings=4096,
        bos_token_id=tokenizer.pad_token_id, eos_token_id=end, pad_token_id=tokenizer.pad_token_id,
        vision_config={"hidden_size": 32, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_token_id": ids("<|endoftext10|>")},
        audio_config={"hidden_size": 32, "intermediate_size": 32, "num_blocks": 1, "num_attention_heads": 2,
                      "ext_pw_out_channel": 32, "depthwise_separable_out_channel": 32, "nemo_conv_channels": 32,
                      "audio_token_id": ids("<|endoftext11|>")},
    )
    return _seeded_model_saved(out, seed, Phi4MultimodalForCausalLM, config, processor,
                               eos=[end, tokenizer.pad_token_id], pad=tokenizer.pad_token_id)


#: Granite's turn format (``<|start_of_role|>ROLE<|end_of_role|>...<|end_of_text|>``) with each audio part rendered as
#: the processor's ``<|audio|>`` token, in content order.
GRANITE_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|start_of_role|>{{ message['role'] }}<|end_of_role|>"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'audio' %}<|audio|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|end_of_text|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|start_of_role|>assistant<|end_of_role|>{% endif %}"
)


def build_tiny_granite_speech(out_dir: str | os.PathLike, *, seed: int = 0) -> Path:
    """Build (or reuse) a tiny random-weight Granite Speech (``GraniteSpeechForConditionalGeneration``: conformer
    encoder, Q-former projector, Granite decoder) + ``GraniteSpeechProcessor`` (its feature extractor needs
    torchaudio); same recipe and caching as :func:`build_tiny_qwen2_audio`."""
    out = Path(out_dir)
    if _is_complete(out, seed):
        return out

    from transformers import (
        GraniteSpeechConfig, GraniteSpeechFeatureExtractor, GraniteSpeechForConditionalGeneration,
        GraniteSpeechProcessor,
    )

    _prepare_folder(out)
    extra = ("<|start_of_role|>", "<|end_of_role|>", "<|end_of_text|>", "<|audio|>")
    tokenizer = _train_tokenizer(extra_special=extra, named={"audio_token": "<|audio|>"})
    processor = GraniteSpeechProcessor(audio_processor=GraniteSpeechFeatureExtractor(), tokenizer=tokenizer,
                                       chat_template=GRANITE_CHAT_TEMPLATE)
    ids = tokenizer.convert_tokens_to_ids
    end = ids("<|end_of_text|>")
    config = GraniteSpeechConfig(
        text_config={"model_type": "granite", "vocab_size": len(tokenizer), "hidden_size": 64,
                     "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                     "num_key_value_heads": 2, "max_position_embeddings": 4096, "eos_token_id": end,
                     "pad_token_id": tokenizer.pad_token_id, "bos_token_id": None, "tie_word_embeddings": False},
        encoder_config={"input_dim": 160, "num_layers": 1, "hidden_dim": 32, "feedforward_mult": 2, "num_heads": 2,
                        "dim_head": 16, "output_dim": 42, "context_size": 200, "max_pos_emb": 512},
        projector_config={"model_type": "blip_2_qformer", "hidden_size": 32, "num_hidden_layers": 1,
                          "num_attention_heads": 2, "intermediate_size": 32, "encoder_hidden_size": 32},
        audio_token_index=ids("<|audio|>"), has_lora_adapter=False,
    )
    return _seeded_model_saved(out, seed, GraniteSpeechForConditionalGeneration, config, processor,
                               eos=[end, tokenizer.pad_token_id], pad=tokenizer.pad_token_id)


#: Gemma 3n's turn format (``<start_of_turn>ROLE ... <end_of_turn>``, the system turn folded into the first user
#: turn) with each audio part rendered as the processor's ``<audio_soft_token>``, in content order.
GEMMA3N_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% set system = namespace(text='') %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{% set system.text = message['content'] ~ '\n\n' %}"
    "{% else %}"
    "<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{% if message['role'] == 'user' %}{{ system.text }}{% set system.text = '' %}{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'audio' %}<audio_soft_token>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<end_of_turn>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def build_tiny_gemma3n(out_dir: str | os.PathLike, *, seed: int = 0) -> Path:
    """Build (or reuse) a tiny random-weight Gemma 3n (``Gemma3nForConditionalGeneration``: USM-style audio encoder,
    a tiny timm vision tower, a small Gemma 3n decoder) + ``Gemma3nProcessor``; same recipe and caching as
    :func:`build_tiny_qwen2_audio`. Gemma 3n reads multimodal soft tokens off the vocabulary layout (text ids, then
    a vision range, then an audio range), so the tokenizer gets filler tokens that put the image and audio
    placeholders at those ranges, as in the real tokenizer. Needs timm (and torchvision)."""
    out = Path(out_dir)
    if _is_complete(out, seed):
        return out

    from transformers import (
        Gemma3nAudioFeatureExtractor, Gemma3nConfig, Gemma3nForConditionalGeneration, Gemma3nProcessor,
    )
    from transformers.models.siglip import SiglipImageProcessorPil

    _prepare_folder(out)
    turns = ("<start_of_turn>", "<end_of_turn>", "<bos>", "<start_of_image>", "<start_of_audio>")
    tokenizer = _train_tokenizer(extra_special=turns)
    multi = 8  # ids per multimodal range
    text_vocab = ((len(tokenizer) + 63) // 64) * 64
    fill = [f"<unused{i}>" for i in range(text_vocab - len(tokenizer))]
    vision = ["<end_of_image>", "<image_soft_token>"] + [f"<vision{i}>" for i in range(multi - 2)]
    audio = ["<end_of_audio>", "<audio_soft_token>"] + [f"<audio{i}>" for i in range(multi - 2)]
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:]) + list(turns) + fill
                                  + vision + audio}, replace_extra_special_tokens=True)
    tokenizer._set_model_specific_special_tokens(special_tokens={
        "image_token": "<image_soft_token>", "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
        "audio_token": "<audio_soft_token>", "boa_token": "<start_of_audio>", "eoa_token": "<end_of_audio>"})
    tokenizer.bos_token = "<bos>"
    ids = tokenizer.convert_tokens_to_ids
    assert ids("<end_of_image>") == text_vocab and ids("<end_of_audio>") == text_vocab + multi
    n_audio = 16
    processor = Gemma3nProcessor(feature_extractor=Gemma3nAudioFeatureExtractor(),
                                 image_processor=SiglipImageProcessorPil(), tokenizer=tokenizer,
                                 chat_template=GEMMA3N_CHAT_TEMPLATE, audio_seq_length=n_audio, image_seq_length=4)
    end = ids("<end_of_turn>")
    config = Gemma3nConfig(
        text_config={"vocab_size": text_vocab + 2 * multi, "vocab_size_per_layer_input": text_vocab,
                     "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                     "num_key_value_heads": 2, "head_dim": 16, "hidden_size_per_layer_input": 8,
                     "num_kv_shared_layers": 0, "laurel_rank": 4, "altup_num_inputs": 2, "sliding_window": 512,
                     "layer_types": ["sliding_attention", "full_attention"],
                     "activation_sparsity_pattern": [0.0, 0.0], "max_position_embeddings": 4096,
                     "pad_token_id": tokenizer.pad_token_id, "eos_token_id": end, "bos_token_id": ids("<bos>")},
        vision_config={"architecture": "test_vit", "hidden_size": 64, "vocab_size": multi,
                       "vocab_offset": text_vocab},
        audio_config={"hidden_size": 32, "conf_num_hidden_layers": 1, "conf_num_attention_heads": 2,
                      "sscp_conv_channel_size": [8, 8], "vocab_size": multi, "vocab_offset": text_vocab + multi},
        audio_soft_tokens_per_image=n_audio, vision_soft_tokens_per_image=4,
        boi_token_id=ids("<start_of_image>"), eoi_token_id=ids("<end_of_image>"),
        image_token_id=ids("<image_soft_token>"), boa_token_id=ids("<start_of_audio>"),
        eoa_token_id=ids("<end_of_audio>"), audio_token_id=ids("<audio_soft_token>"), tie_word_embeddings=True,
    )
    return _seeded_model_saved(out, seed, Gemma3nForConditionalGeneration, config, processor,
                               eos=[end, tokenizer.pad_token_id], pad=tokenizer.pad_token_id)
