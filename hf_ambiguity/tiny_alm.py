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

__all__ = [
    "build_tiny_qwen2_audio", "build_tiny_audio_flamingo3", "tiny_qwen2_audio_processor", "CHAT_TEMPLATE",
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


def _train_tokenizer(vocab_size: int = 600, extra_special: tuple[str, ...] = ()):
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
        model_max_length=8192, errors="replace",
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

    import torch
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
    with torch.random.fork_rng(devices=[]):  # seeded weights without resetting the caller's global RNG
        torch.manual_seed(seed)
        model = Qwen2AudioForConditionalGeneration(config).eval()
    gen = model.generation_config
    gen.eos_token_id = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    gen.pad_token_id = tokenizer.pad_token_id
    gen.bos_token_id = None

    return _save_atomically(out, seed, model, processor)


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

    import torch
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
    with torch.random.fork_rng(devices=[]):  # seeded weights without resetting the caller's global RNG
        torch.manual_seed(seed)
        model = AudioFlamingo3ForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = [im_end, tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return _save_atomically(out, seed, model, processor)
