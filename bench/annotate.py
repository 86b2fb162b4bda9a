"""Benchmark: the three annotation modes on one model in one run — utterances/s and the expected-vs-sample ratio.

    .venv/bin/python bench/annotate.py [--clips 64] [--n 8] [--runs 3] [--seconds 5.0] [--batch-size 16]
                                       [--sample-batch-size 32] [--threads 1] [--model-dir DIR]

Builds (or reuses) the tiny random-weight Qwen2-Audio of :mod:`hf_ambiguity.tiny_alm` (or loads ``--model``) and a
dataset of ``--clips`` noisy tones of ``--seconds`` s, then times :func:`hf_ambiguity.annotate.annotate` end to end
(audio decoding, prompting, model, result store, columns) in ``score``, ``expected`` (N annotators) and ``sample``
(N annotators) mode, each run with a fresh result store so nothing is cached; median of ``--runs``, modes
interleaved within a run so machine load hits all alike. ``--batch-size`` counts utterances (score, expected);
``--sample-batch-size`` requests (utterance x annotator). Prints utterances/s of each mode, the ratio expected /
sample (goal: >= 5 at N = 8) and the mean base-2 JS divergence between the expected and the sampled distributions
over the clips where sample mode got a parsable answer (with random weights most sampled answers are noise: their
number is reported). CPU unless CUDA is there.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODES = ("score", "expected", "sample")


def make_clips(n: int, seconds: float, seed: int = 0):
    import io

    import soundfile as sf
    from datasets import Audio, ClassLabel, Dataset, Features, List, Value

    classes = ["neutral", "happy", "angry", "sad"]
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    audio = []
    for i in range(n):
        x = 0.3 * np.sin(2 * np.pi * rng.uniform(90, 300) * t) + 0.03 * rng.standard_normal(t.size)
        buf = io.BytesIO()
        sf.write(buf, x.astype(np.float32), 16000, format="WAV", subtype="PCM_16")
        audio.append({"bytes": buf.getvalue(), "path": None})
    votes = rng.integers(0, 3, size=(n, 4)).astype(float) + np.eye(4)[rng.integers(0, 4, n)]
    feats = Features({"id": Value("string"), "audio": Audio(sampling_rate=16000), "transcript": Value("string"),
                      "speaker": Value("string"), "corpus": Value("string"), "human_votes": List(Value("float64")),
                      "majority_label": ClassLabel(names=classes)})
    return Dataset.from_dict({
        "id": [f"clip{i:05d}" for i in range(n)], "audio": audio,
        "transcript": [f"this is clip number {i}" for i in range(n)], "speaker": [f"s{i % 7}" for i in range(n)],
        "corpus": ["iemocap"] * n, "human_votes": votes.tolist(), "majority_label": votes.argmax(1).tolist(),
    }, features=feats)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=64)
    p.add_argument("--n", type=int, default=8, help="synthetic annotators (expected and sample modes)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--batch-size", type=int, default=16, help="utterances per batch (score, expected)")
    p.add_argument("--sample-batch-size", type=int, default=32, help="requests per batch (sample)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (1 avoids OpenMP spin contention on a shared, loaded machine)")
    p.add_argument("--model", help="a Hub id or folder instead of the tiny model")
    p.add_argument("--model-dir", default=str(Path(tempfile.gettempdir()) / "hf-ambiguity-bench-tiny-qwen2-audio"))
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from hf_ambiguity.alm.local import TransformersAnnotator
    from hf_ambiguity.analysis.divergences import js_divergence
    from hf_ambiguity.annotate import annotate
    from hf_ambiguity.tiny_alm import build_tiny_qwen2_audio

    model = args.model or str(build_tiny_qwen2_audio(args.model_dir))
    annotator = TransformersAnnotator(model)
    ds = make_clips(args.clips, args.seconds)
    times: dict[str, list[float]] = {m: [] for m in MODES}
    outputs = {}
    for run in range(args.runs):
        for mode in MODES:
            batch = args.sample_batch_size if mode == "sample" else args.batch_size
            with tempfile.TemporaryDirectory() as cache:
                start = time.perf_counter()
                out, _ = annotate(ds, annotator, mode=mode, n_annotators=args.n, batch_size=batch,
                                  cache_dir=cache, progress=False)
                times[mode].append(time.perf_counter() - start)
            outputs[mode] = out
            print(f"run {run + 1}/{args.runs} {mode}: {args.clips / times[mode][-1]:.2f} utt/s", file=sys.stderr)
    ups = {m: args.clips / statistics.median(t) for m, t in times.items()}
    sample_votes = np.array(outputs["sample"]["synthetic_votes"])
    valid = sample_votes.sum(axis=1) > 0
    expected = np.array(outputs["expected"]["synthetic_dist"])
    sample = np.array(outputs["sample"]["synthetic_dist"])
    jsd = float(np.mean(js_divergence(expected[valid], sample[valid]))) if valid.any() else float("nan")
    result = {
        "model": model if args.model else "tiny-qwen2-audio (random weights)",
        "device": "cuda" if torch.cuda.is_available() else "cpu", "torch_threads": torch.get_num_threads(),
        "clips": args.clips, "seconds_per_clip": args.seconds, "n_annotators": args.n, "runs": args.runs,
        "batch_size": args.batch_size, "sample_batch_size": args.sample_batch_size,
        **{f"{m}_utt_per_s": round(ups[m], 2) for m in MODES},
        "ratio_expected_over_sample": round(ups["expected"] / ups["sample"], 2),
        "ratio_score_over_sample": round(ups["score"] / ups["sample"], 2),
        "mean_js_expected_vs_sample": round(jsd, 4), "clips_with_a_parsable_sample": int(valid.sum()),
        "sample_invalid_answer_rate": round(float(np.mean(outputs["sample"]["synthetic_invalid"])) / args.n, 3),
        "expected_invalid_mass": round(float(np.mean(outputs["expected"]["synthetic_invalid"])) / args.n, 3),
    }
    print(json.dumps(result, indent=1))
    print(f"expected mode is {result['ratio_expected_over_sample']}x the utterances/s of sample mode at "
          f"N = {args.n} (goal: >= 5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
