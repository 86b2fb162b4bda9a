"""GPU check: the full-size Qwen2-Audio-7B architecture (random weights, bf16) — annotation and fine-tuning speed.

    python bench/gpu_check.py [--out gpu_check.json] [--budget-s 420]      # on one GPU (an H200: about 2 minutes)
    python bench/gpu_check.py --dry --out /tmp/dry.json                     # CPU, tiny config, seconds (tests)

What it measures, at 5 s clips, writing ``--out`` (JSON) after every figure so that a kill or a timeout still
leaves every figure measured so far:

- ``expected`` mode against brute force on this model, dtype and attention kernel: the class log-probabilities of
  3 utterances (3, 5 and 8 s) x 3 annotators (two foci, two temperatures) in the audio-first layout (the token tree
  on a shared audio prefix) and of one utterance in the text-first layout, each compared with one uncached forward
  pass of prompt + answer per label spelling; the largest differences in log-probability and in the renormalised
  class distribution are recorded, in bf16 and (the same weights cast up) in fp32: rounding differs between the
  batched and the one-at-a-time passes, so they are not zero; the tiny fp32 dry run must agree to 1e-4;
- annotation utterances/s of ``score``, ``expected`` (N = 8) and ``sample`` (N = 8) mode over a batch sweep
  (:class:`hf_ambiguity.alm.local.TransformersAnnotator`, the code ``hf-ambiguity annotate`` runs), the best
  expected / sample ratio, and per point the peak GPU memory and the model FLOP utilisation (MFU);
- LoRA fine-tuning samples/s with the paper preset (:data:`hf_ambiguity.training.config.PRESETS` ``paper``: LoRA
  r 8 / alpha 16 / dropout 0.2 on q/k/v/o, attention-pooling head, JS + 0.08 entropy loss, AdamW lr 2.5e-6,
  weight decay 0.03, clipping 3.0, micro-batch 8 x 8 accumulation, fp16 autocast), its peak memory and MFU.

The model is built from Qwen2-Audio-7B-Instruct's architecture (:data:`QWEN2_AUDIO_7B`: 8.4 B parameters, vocabulary
156,032, 30 s Whisper window) with random weights: nothing is downloaded. The tokenizer is the tiny checkpoint's
(:func:`hf_ambiguity.tiny_alm.tiny_qwen2_audio_processor`, ids below 600 of the full vocabulary); it splits the prompt
into more tokens than Qwen's own tokenizer would, so the prompt lengths are reported. Random weights never end an
answer, so sample mode generates as many tokens as the longest label answer (label + end of turn), which is what a
real model answering with a label generates.

MFU = model FLOPs / time / the GPU's dense bf16 peak (989.4 TFLOP/s for an H100/H200 SXM). Model FLOPs are counted
from the shapes every forward pass actually processes (padding included): ``2 x parameters x positions`` for the
matrix products plus ``4 x layers x width x query positions x key positions`` for attention, in the decoder and the
audio encoder; fine-tuning counts ``2 x`` the forward (the frozen weights need activation gradients, not weight
gradients).

It imports torch, transformers, peft, accelerate and modules of ``hf_ambiguity`` that need nothing else (no
datasets, evaluate or torchcodec): the JSON lists any module of those packages that got imported.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: Qwen2-Audio-7B(-Instruct)'s architecture (its config.json; Qwen2Config defaults fill the rest: hidden 4096,
#: 32 layers, 32 heads, 32 key/value heads).
QWEN2_AUDIO_7B = {
    "audio_config": {"num_mel_bins": 128, "encoder_layers": 32, "encoder_attention_heads": 20,
                     "encoder_ffn_dim": 5120, "d_model": 1280, "max_source_positions": 1500},
    "text_config": {"vocab_size": 156032, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
                    "num_attention_heads": 32, "num_key_value_heads": 32, "max_position_embeddings": 8192,
                    "rope_theta": 10000.0, "rms_norm_eps": 1e-5},
    "window_seconds": 30,
}
#: The tiny checkpoint's architecture (dry runs).
TINY = {
    "audio_config": {"num_mel_bins": 128, "encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 64,
                     "d_model": 32, "max_source_positions": 250},
    "text_config": {"vocab_size": 600, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                    "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096},
    "window_seconds": 5,
}
PEAK_BF16_FLOPS = 989.4e12
FORBIDDEN = ("datasets", "evaluate", "torchcodec")
N_ANNOTATORS = 8
CLIP_SECONDS = 5.0


class Report:
    """The JSON result, rewritten atomically after every change."""

    def __init__(self, path: Path):
        self.path = path
        self.data: dict[str, Any] = {}

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.flush()

    def add(self, key: str, value: Any) -> None:
        self.data.setdefault(key, []).append(value)
        self.flush()

    def flush(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        os.replace(tmp, self.path)


def say(msg: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------------- model
def build(arch: dict[str, Any], device: str, dtype: Any):
    """``(LoadedALM, counts)``: the architecture with random weights on ``device`` and the tiny tokenizer."""
    import torch
    from transformers import Qwen2AudioConfig, Qwen2AudioEncoderConfig, Qwen2AudioForConditionalGeneration, Qwen2Config

    from hf_ambiguity.alm.loading import LoadedALM
    from hf_ambiguity.tiny_alm import tiny_qwen2_audio_processor

    processor = tiny_qwen2_audio_processor(chunk_seconds=arch["window_seconds"])
    tok = processor.tokenizer
    tok.padding_side = "left"
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    text = Qwen2Config(**arch["text_config"], tie_word_embeddings=False, eos_token_id=im_end,
                       pad_token_id=tok.pad_token_id, bos_token_id=None)
    config = Qwen2AudioConfig(audio_config=Qwen2AudioEncoderConfig(**arch["audio_config"]), text_config=text,
                              audio_token_index=tok.convert_tokens_to_ids("<|AUDIO|>"))
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2AudioForConditionalGeneration._from_config(config, dtype=dtype).eval()
    model.generation_config.eos_token_id = [im_end]
    model.generation_config.pad_token_id = tok.pad_token_id
    alm = LoadedALM(model, processor, "random-init Qwen2-Audio architecture", None, "qwen2_audio", device,
                    str(dtype).replace("torch.", ""), "<|im_end|>")
    inner = model.model  # Qwen2AudioModel: audio_tower, multi_modal_projector, language_model (transformers 5.x)
    enc = sum(p.numel() for p in inner.audio_tower.parameters())
    dec_embed = model.get_input_embeddings().weight.numel()
    dec = sum(p.numel() for p in model.parameters()) - enc - dec_embed
    return alm, {"parameters": enc + dec + dec_embed, "encoder_parameters": enc,
                 "decoder_matmul_parameters": dec - sum(p.numel() for p in inner.multi_modal_projector.parameters())}


class FlopCounter:
    """Model FLOPs of every forward pass (see the module docstring), counted from the shapes of the inputs of the
    language model and the audio encoder."""

    def __init__(self, model: Any, counts: dict[str, int]):
        self.total = 0.0
        text, audio = model.config.text_config, model.config.audio_config
        self.dec = (counts["decoder_matmul_parameters"], text.num_hidden_layers, text.hidden_size)
        self.enc = (counts["encoder_parameters"], audio.encoder_layers, audio.d_model)
        self.handles = [
            model.model.language_model.register_forward_pre_hook(self._decoder, with_kwargs=True),
            model.model.audio_tower.register_forward_pre_hook(self._encoder, with_kwargs=True),
        ]

    def _decoder(self, module, args, kwargs):
        emb = kwargs.get("inputs_embeds")
        if emb is None:
            emb = args[0] if args and hasattr(args[0], "shape") else kwargs.get("input_ids")
        b, t = emb.shape[0], emb.shape[1]
        mask = kwargs.get("attention_mask")
        keys = mask.shape[-1] if mask is not None and hasattr(mask, "shape") else t
        params, layers, width = self.dec
        self.total += 2.0 * params * b * t + 4.0 * layers * width * b * t * keys

    def _encoder(self, module, args, kwargs):
        feats = args[0] if args else kwargs.get("input_features")
        b, positions = feats.shape[0], feats.shape[-1] // 2
        params, layers, width = self.enc
        self.total += 2.0 * params * b * positions + 4.0 * layers * width * b * positions * positions

    def take(self) -> float:
        value, self.total = self.total, 0.0
        return value


def make_items(n: int, seconds: float, seed: int = 0):
    from hf_ambiguity.alm.base import Item

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    classes = ("neutral", "happy", "angry", "sad")
    return [Item(f"clip{i:05d}", (0.3 * np.sin(2 * np.pi * rng.uniform(90, 300) * t)
                                  + 0.03 * rng.standard_normal(t.size)).astype(np.float32), 16000,
                 f"this is clip number {i}, said with some feeling", f"spk{i % 7}", classes, "iemocap")
            for i in range(n)]


def verify_expected(alm) -> dict[str, Any]:
    """The largest differences between ``expected`` mode and
    :func:`hf_ambiguity.alm.local.brute_force_class_logprobs` (module docstring)."""
    from hf_ambiguity.alm.local import TransformersAnnotator, brute_force_class_logprobs
    from hf_ambiguity.alm.prompts import PromptProtocol, annotator_specs

    specs = [annotator_specs(6)[i] for i in (0, 2, 5)]  # annotators 0 and 5: one focus, two temperatures
    items = [make_items(1, seconds, seed=k)[0] for k, seconds in enumerate((3.0, CLIP_SECONDS, 8.0))]
    out: dict[str, Any] = {}
    for name, protocol, batch in (("audio_first", PromptProtocol.project(), items),
                                  ("text_first", PromptProtocol.reference_structure(), items[:1])):
        got = TransformersAnnotator(alm).expected_batch(batch, specs, protocol)
        want = np.array([[brute_force_class_logprobs(alm, it, s, protocol) for s in specs] for it in batch])
        renorm = lambda x: np.exp(x - np.logaddexp.reduce(x, axis=-1, keepdims=True))  # noqa: E731
        out[name] = {"max_abs_logprob_difference": float(np.abs(got - want).max()),
                     "max_abs_class_probability_difference": float(np.abs(renorm(got) - renorm(want)).max()),
                     "utterances": len(batch), "annotators": len(specs)}
    return out


# ---------------------------------------------------------------------------------------------------- timing
def timed(fn: Callable[[], Any], *, device: str, reps: int) -> float:
    """Median seconds of ``reps`` calls after one warm-up call."""
    import torch

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    fn()
    sync()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def point(fn: Callable[[], Any], *, device: str, reps: int, flops: FlopCounter, units: int) -> dict[str, Any]:
    """One measured point: seconds per call, units/s, peak memory, MFU."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    flops.take()
    secs = timed(fn, device=device, reps=reps)
    per_call = flops.take() / (reps + 1)
    out = {"seconds_per_batch": round(secs, 4), "per_s": round(units / secs, 3),
           "model_tflops_per_batch": round(per_call / 1e12, 3),
           "mfu": round(per_call / secs / PEAK_BF16_FLOPS, 4) if device.startswith("cuda") else None}
    if device.startswith("cuda"):
        out["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return out


# ---------------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dry", action="store_true", help="tiny config on the CPU (seconds; the test suite runs this)")
    p.add_argument("--out", default="gpu_check.json", help="JSON file written after every figure")
    p.add_argument("--budget-s", type=float, default=420.0,
                   help="stop starting new measurements after this many seconds (whole run, model build included)")
    p.add_argument("--reps", type=int, default=2, help="timed calls per point (after one warm-up call)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()

    import torch
    import transformers

    from hf_ambiguity.alm.loading import chat_text
    from hf_ambiguity.alm.local import TransformersAnnotator
    from hf_ambiguity.alm.prompts import PromptProtocol, annotator_specs
    from hf_ambiguity.alm.scoring import label_token_ids

    if args.dry:
        torch.set_num_threads(1)  # a shared CPU: no OpenMP spinning
    report = Report(Path(args.out))
    device = "cpu" if args.dry else ("cuda" if torch.cuda.is_available() else "cpu")
    if not args.dry and device == "cpu":
        say("no GPU: run with --dry for the CPU check")
        return 2
    dtype = torch.float32 if args.dry else torch.bfloat16
    arch = TINY if args.dry else QWEN2_AUDIO_7B
    reps = 1 if args.dry else args.reps
    report.set("run", {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "dry": args.dry,
        "machine": platform.node(), "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
        "architecture": "tiny" if args.dry else "Qwen2-Audio-7B (random weights)", "dtype": str(dtype),
        "clip_seconds": CLIP_SECONDS, "n_annotators": N_ANNOTATORS, "peak_bf16_flops": PEAK_BF16_FLOPS})
    say(f"building the {'tiny' if args.dry else 'Qwen2-Audio-7B'} architecture on {device} ...")
    start = time.perf_counter()
    alm, counts = build(arch, device, dtype)
    report.set("model", {**counts, "build_seconds": round(time.perf_counter() - start, 1)})
    say(f"built: {counts['parameters'] / 1e9:.2f} B parameters in {time.perf_counter() - start:.0f} s")
    flops = FlopCounter(alm.model, counts)
    specs = annotator_specs(N_ANNOTATORS)
    item = make_items(1, CLIP_SECONDS)[0]
    protocol = PromptProtocol.project()
    labels = protocol.labels_for(item.class_names, item.corpus).spellings
    answer_tokens = max(len(s) for c in label_token_ids(alm.processor.tokenizer, labels, end_token="<|im_end|>")
                        for s in c)
    annot = TransformersAnnotator(alm, max_new_tokens=answer_tokens)
    text = chat_text(alm, protocol.messages(item.transcript, item.speaker, item.class_names, specs[0].focus,
                                            item.corpus))
    sample_prompt = alm.processor(text=[text], audio=[item.audio], sampling_rate=16000,
                                  return_tensors="pt")["input_ids"].shape[1]
    report.set("prompt", {"tokens_with_audio_placeholders": int(sample_prompt), "answer_tokens_max": answer_tokens,
                          "tokenizer": "tiny BPE (600 ids)"})

    def left() -> float:
        return args.budget_s - (time.perf_counter() - t0)

    checks = {}
    for check_dtype in ([dtype] if dtype == torch.float32 else [dtype, torch.float32]):
        alm.model.to(check_dtype)  # bf16 -> fp32 -> bf16 restores the weights exactly
        name = str(check_dtype).replace("torch.", "")
        say(f"expected mode vs brute force in {name} ...")
        checks[name] = verify_expected(alm)
        report.set("expected_vs_brute_force", checks)
        say(f"expected vs brute force in {name}: {checks[name]}")
    alm.model.to(dtype)
    if device.startswith("cuda"):
        torch.cuda.empty_cache()

    sweeps = {"expected": [2] if args.dry else [8, 16, 32, 64],
              "sample": [2] if args.dry else [8, 16, 32],         # utterances per batch (x N requests)
              "score": [2] if args.dry else [16, 64]}
    best: dict[str, float] = {}
    for mode in ("expected", "sample", "score"):
        for bs in sweeps[mode]:
            if left() < (5 if args.dry else 45):
                say(f"time budget: skipping {mode} at batch {bs}")
                report.add("skipped", f"{mode} batch {bs}")
                continue
            items = make_items(bs, CLIP_SECONDS, seed=bs)
            if mode == "expected":
                fn = lambda: annot.expected_batch(items, specs)  # noqa: E731
            elif mode == "score":
                fn = lambda: annot.score_batch(items)  # noqa: E731
            else:
                from hf_ambiguity.alm.base import Request

                reqs = [Request(it, s) for it in items for s in specs]
                fn = lambda: annot.annotate_batch(reqs)  # noqa: E731
            say(f"{mode}: batch of {bs} utterances ...")
            try:
                res = point(fn, device=device, reps=reps, flops=flops, units=bs)
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                report.add("annotation", {"mode": mode, "batch_utterances": bs, "result": "out of memory"})
                say(f"{mode}: out of memory at batch {bs}")
                break
            res = {"mode": mode, "batch_utterances": bs, "utterances_per_s": res.pop("per_s"), **res}
            report.add("annotation", res)
            best[mode] = max(best.get(mode, 0.0), res["utterances_per_s"])
            say(f"{mode}: {res['utterances_per_s']} utt/s (MFU {res['mfu']})")
    if "expected" in best and "sample" in best:
        report.set("ratio_expected_over_sample", round(best["expected"] / best["sample"], 2))
        say(f"expected / sample = {best['expected'] / best['sample']:.2f} (best batch of each)")
    report.set("best_utterances_per_s", best)

    if left() < (5 if args.dry else 60):
        report.add("skipped", "LoRA fine-tuning")
    else:
        try:
            report.set("lora_training", train_check(alm, flops, device, dry=args.dry))
            say(f"LoRA fine-tuning: {report.data['lora_training']['samples_per_s']} samples/s")
        except torch.cuda.OutOfMemoryError:
            report.set("lora_training", {"result": "out of memory"})
    report.set("imported_modules_of_absent_packages",
               sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN))
    report.set("total_seconds", round(time.perf_counter() - t0, 1))
    say(f"done in {time.perf_counter() - t0:.0f} s; figures in {args.out}")
    return 0


def train_check(alm, flops: FlopCounter, device: str, *, dry: bool) -> dict[str, Any]:
    """LoRA fine-tuning samples/s with the paper preset (micro-batches of 8, an optimizer step every 8)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from hf_ambiguity.alm.loading import processor_inputs
    from hf_ambiguity.alm.prompts import build_messages
    from hf_ambiguity.training.config import PRESETS
    from hf_ambiguity.training.head import AttentionPoolingHead
    from hf_ambiguity.training.losses import get_loss
    from hf_ambiguity.training.model import DistributionModel, text_hidden_size

    preset = PRESETS["paper"]
    base = alm.model
    dtype = torch.float32 if dry else torch.float16  # the preset's torch_dtype
    base.to(dtype)
    base.config.use_cache = False
    base.train()
    lora = LoraConfig(r=preset["lora_r"], lora_alpha=preset["lora_alpha"], lora_dropout=preset["lora_dropout"],
                      target_modules=list(preset["lora_target_modules"]), bias="none")
    backbone = get_peft_model(base, lora)
    for prm in backbone.parameters():
        if prm.requires_grad:
            prm.data = prm.data.float()
    head = AttentionPoolingHead(text_hidden_size(base.config), preset["num_classes"],
                                num_heads=preset["head_num_heads"], dropout=preset["head_dropout"]).to(device)
    model = DistributionModel(backbone, head, head_kind="attention").train()
    params = [prm for prm in model.parameters() if prm.requires_grad]
    opt = torch.optim.AdamW(params, lr=preset["learning_rate"], weight_decay=preset["weight_decay"])
    loss_fn = get_loss(preset["loss"], entropy_weight=preset["entropy_weight"])
    batch = 2 if dry else preset["per_device_train_batch_size"]
    accumulate = 2 if dry else preset["gradient_accumulation_steps"]
    items = make_items(batch, CLIP_SECONDS, seed=99)
    texts = [alm.processor.apply_chat_template(build_messages(it.transcript, None, it.class_names, None),
                                               add_generation_prompt=True, tokenize=False) for it in items]
    inputs = processor_inputs(alm, texts, [it.audio for it in items])
    target = torch.full((batch, preset["num_classes"]), 1.0 / preset["num_classes"], device=device)
    use_amp = device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    n = {"micro": 0}

    def micro_batch():
        with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
            logp = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                         input_features=inputs["input_features"],
                         feature_attention_mask=inputs["feature_attention_mask"])
            loss = loss_fn(logp.float(), target) / accumulate
        scaler.scale(loss).backward()
        n["micro"] += 1
        if n["micro"] % accumulate == 0:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, preset["max_grad_norm"])
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)

    def optimizer_step():
        for _ in range(accumulate):
            micro_batch()

    res = point(optimizer_step, device=device, reps=1, flops=flops, units=batch * accumulate)
    fwd = res.pop("model_tflops_per_batch")
    mfu = res.pop("mfu")
    return {"preset": "paper", "dtype": str(dtype), "micro_batch": batch, "gradient_accumulation_steps": accumulate,
            "prompt_tokens": int(inputs["input_ids"].shape[1]), "samples_per_s": res.pop("per_s"),
            "seconds_per_optimizer_step": res.pop("seconds_per_batch"),
            "model_tflops_per_optimizer_step": round(2 * fwd, 3),
            "mfu": None if mfu is None else round(2 * mfu, 4), **res}


if __name__ == "__main__":
    sys.exit(main())
