"""Benchmark: training throughput (samples/s) and peak memory of distribution fine-tuning on the tiny Qwen2-Audio.

    .venv/bin/python bench/train.py [--steps 6] [--batch-size 4] [--seconds 2.0] [--runs 3] [--threads 1]

Each configuration runs ``--runs`` times (the configurations interleaved), each in a **fresh subprocess** (so the peak resident set size belongs to that
run alone): build the tiny random-weight Qwen2-Audio (:mod:`hf_ambiguity.tiny_alm`) + LoRA + head as training does
(:func:`hf_ambiguity.training.model.build_model`), then time ``--steps`` optimizer steps after one warm-up step, data
loading and collation (audio decoding, prompt, processor features) included, forward + backward + AdamW under
``Accelerator.accumulate``. Reported: median samples/s, median peak RSS (``resource.getrusage``, whole process:
Python, torch and the model) and the peak of Python-level allocations during the timed steps (``tracemalloc``; torch
tensor storage is not Python memory, so this shows collation/bookkeeping overhead), side by side for the reference
attention head, the attention head with gradient checkpointing, the attention head with the reference audio
augmentation (``--audio_augment``: librosa pitch shift / time stretch on 20 % of the clips, in the data loader), and
the label-token head, with ratios to the first.

CPU only here (no GPU in this environment); the full-size Qwen2-Audio-7B figures (samples/s at 5 s clips, peak GPU
memory, MFU) need a GPU and are not produced by this script.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CONFIGS = {
    "attention": [],
    "attention+grad_ckpt": ["--gradient_checkpointing"],
    "attention+audio_augment": ["--audio_augment"],
    "label_token": ["--head", "label_token"],
}


def worker(args: argparse.Namespace) -> None:
    import resource
    import time
    import tracemalloc

    import torch
    from accelerate import Accelerator
    from datasets import Audio
    from torch.utils.data import DataLoader

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from helpers import CLASSES, make_dataset  # noqa: E402

    from hf_ambiguity.tiny_alm import build_tiny_qwen2_audio
    from hf_ambiguity.training.config import parse_args
    from hf_ambiguity.training.data import DistributionCollator, DistributionRows, EpochSampler, reference_audio_augment
    from hf_ambiguity.training.losses import get_loss
    from hf_ambiguity.training.model import MODEL_INPUT_KEYS, build_model

    torch.set_num_threads(args.threads)
    model_dir = build_tiny_qwen2_audio(Path(args.cache) / "tiny_qwen2_audio")
    cfg = parse_args(["--dataset", "unused", "--model", str(model_dir), "--torch_dtype", "float32",
                      "--mixed_precision", "no", "--preset", "none", *json.loads(args.extra)])
    n = args.batch_size * (args.steps + 1)
    ds = make_dataset(n, seconds=args.seconds).cast_column("audio", Audio(sampling_rate=16000))
    torch.manual_seed(0)
    model, processor, _ = build_model(cfg, CLASSES)
    rows = DistributionRows(ds, target="human_dist", sampling_rate=16000, max_audio_seconds=30.0,
                            augment=reference_audio_augment(16000) if cfg.audio_augment else None)
    collator = DistributionCollator(processor, CLASSES, head=cfg.head)
    loader = DataLoader(rows, batch_size=args.batch_size, sampler=EpochSampler(n, seed=0), collate_fn=collator)
    acc = Accelerator(cpu=True, mixed_precision="no")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model, opt, loader = acc.prepare(model, opt, loader)
    loss_fn = get_loss(cfg.loss)
    model.train()
    t0 = None
    tracemalloc.start()
    for i, batch in enumerate(loader):
        if i == 1:  # after the warm-up step
            tracemalloc.reset_peak()
            t0 = time.perf_counter()
        with acc.accumulate(model):
            loss = loss_fn(model(**{k: batch[k] for k in MODEL_INPUT_KEYS if k in batch}).float(), batch["target"])
            acc.backward(loss)
            opt.step()
            opt.zero_grad()
    elapsed = time.perf_counter() - t0
    _, py_peak = tracemalloc.get_traced_memory()
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"samples_per_s": args.steps * args.batch_size / elapsed, "peak_rss_mib": rss_kib / 1024,
                      "python_peak_mib": py_peak / 2 ** 20}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--extra", default="[]", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    cache = args.cache or tempfile.mkdtemp(prefix="bench_train_")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": str(args.threads)}
    runs: dict[str, list[dict]] = {name: [] for name in CONFIGS}
    for _ in range(args.runs):  # configurations interleaved, so that a change in machine load hits them alike
        for name, extra in CONFIGS.items():
            cmd = [sys.executable, __file__, "--worker", "--cache", cache, "--extra", json.dumps(extra),
                   "--steps", str(args.steps), "--batch-size", str(args.batch_size), "--seconds", str(args.seconds),
                   "--threads", str(args.threads)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
            runs[name].append(json.loads(out.strip().splitlines()[-1]))
    results = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    base = results["attention"]["samples_per_s"]
    print(f"tiny Qwen2-Audio, CPU ({args.threads} thread(s)), batch {args.batch_size}, {args.seconds:g} s clips, "
          f"{args.steps} timed steps, median of {args.runs} fresh processes")
    print(f"{'config':<22}{'samples/s':>10}{'vs attention':>14}{'peak RSS MiB':>14}{'py peak MiB':>13}")
    for name, r in results.items():
        print(f"{name:<22}{r['samples_per_s']:>10.2f}{r['samples_per_s'] / base:>13.2f}x"
              f"{r['peak_rss_mib']:>14.0f}{r['python_peak_mib']:>13.1f}")


if __name__ == "__main__":
    main()
