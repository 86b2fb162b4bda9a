"""Benchmark: DiME-Aug new samples/s from 5 s sources, against the floor of decoding sources and encoding outputs.

    .venv/bin/python bench/augment.py [--n-new 10000] [--minority 200] [--duration 5.0] [--runs 3] [--num-proc 1]
    .venv/bin/python bench/augment.py --first-call [--runs 3]

Builds a 4-class training set of ``--duration`` s utterances (noisy tones, 16-bit WAV bytes in an
``Audio(16000)`` column, transcripts): three minority classes of ``--minority`` rows and a majority class sized so
that ``ratio=1.0`` asks for ``--n-new`` new rows. Then, median of ``--runs`` (a different seed per run, so that no
run reuses another's cached Arrow output; a fresh ``HF_DATASETS_CACHE`` under ``--work``):

- dime_aug: the whole :func:`hf_ambiguity.augment.dime_aug` call — decode the rows of the classes that need new
  rows (the three minority classes; the majority class is never decoded), their 82-d features (librosa),
  standardisation and kNN per class, pairs, waveform mixing, WAV encoding, Arrow writing;
- features: decode + :func:`row_features` of every source row (the minority classes) alone — the part that grows
  with the minority classes' size, not with the number of new rows;
- floor: decode every source row (:func:`decode_audio`) + encode ``--n-new`` outputs (:func:`encode_wav`), nothing
  else.

Prints new samples/s of each and the ratio to the floor, side by side from one run of this script.

``--first-call``: the one-off cost a fresh process pays for its first feature vector (after importing numpy,
datasets and sklearn, which DiME-Aug needs anyway), median of ``--runs`` fresh processes each: this project's
:func:`audio_features` (numpy, :mod:`hf_ambiguity.augment.descriptors`), the same descriptors through librosa's own
functions with numba's on-disk cache warm, and with an empty numba cache (``NUMBA_CACHE_DIR`` pointing at a new
folder: a first run, a new environment or a read-only one).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_sources(n_majority: int, n_minority: int, duration: float, seed: int = 0):
    """The benchmark's training split (datasets.Dataset written to the current cache)."""
    import datasets
    import soundfile as sf

    n_samples = int(round(duration * 16000))
    counts = [n_majority, n_minority, n_minority, n_minority]
    features = datasets.Features({
        "id": datasets.Value("string"), "audio": datasets.Audio(sampling_rate=16000),
        "transcript": datasets.Value("string"), "human_dist": datasets.List(datasets.Value("float32")),
        "majority_label": datasets.ClassLabel(names=["neutral", "happy", "angry", "sad"]),
    })

    def gen():
        rng = np.random.default_rng(seed)
        t = np.arange(n_samples) / 16000
        r = 0
        for c, count in enumerate(counts):
            for _ in range(count):
                f0 = 120.0 * (c + 1) * rng.uniform(0.8, 1.2)
                y = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.05 * rng.standard_normal(n_samples)
                buf = io.BytesIO()
                sf.write(buf, y.astype(np.float32), 16000, format="WAV", subtype="PCM_16")
                dist = np.full(4, 0.1)
                dist[c] = 0.7
                yield {"id": f"b{r:06d}", "audio": {"bytes": buf.getvalue(), "path": f"b{r:06d}.wav"},
                       "transcript": "Well, I don't know. Really?", "human_dist": dist.tolist(), "majority_label": c}
                r += 1

    return datasets.Dataset.from_generator(gen, features=features,
                                           fingerprint=f"bench-augment-{n_majority}-{n_minority}-{duration}-{seed}")


def time_dime(ds, seed: int, num_proc: int = 1) -> tuple[float, int]:
    from hf_ambiguity.augment import dime_aug

    t0 = time.perf_counter()
    out, report = dime_aug(ds, "human_dist", ratio=1.0, k=3, seed=seed, num_proc=num_proc, progress=False)
    return time.perf_counter() - t0, report.n_generated


def time_features(ds) -> float:
    import datasets

    from hf_ambiguity.audio import decode_audio
    from hf_ambiguity.augment.dime_features import row_features, single_threaded_blas

    raw = ds.cast_column("audio", datasets.Audio(decode=False))
    texts = ds["transcript"]
    t0 = time.perf_counter()
    with single_threaded_blas():  # as dime_aug does
        for r in range(len(raw)):
            row_features(decode_audio(raw[r]["audio"]), texts[r])
    return time.perf_counter() - t0


def time_floor(ds, n_new: int) -> float:
    import datasets

    from hf_ambiguity.audio import decode_audio, encode_wav

    raw = ds.cast_column("audio", datasets.Audio(decode=False))
    t0 = time.perf_counter()
    waves = [decode_audio(raw[r]["audio"]) for r in range(len(raw))]
    for t in range(n_new):
        encode_wav(waves[t % len(waves)])
    return time.perf_counter() - t0


_FIRST_CALL = """
import time
import numpy as np, datasets, sklearn.neighbors, sklearn.preprocessing
y = (0.3 * np.sin(np.arange(48000) / 7.0)).astype(np.float32)
t0 = time.perf_counter()
{call}
print(time.perf_counter() - t0)
"""
_PROJECT_CALL = "from hf_ambiguity.augment.dime_features import audio_features; audio_features(y)"
_LIBROSA_CALL = ("import librosa; [f(y=y, sr=16000) for f in (librosa.feature.mfcc, librosa.feature.chroma_stft, "
                 "librosa.feature.spectral_contrast, librosa.feature.spectral_rolloff, "
                 "librosa.feature.spectral_centroid)]; librosa.feature.zero_crossing_rate(y); librosa.feature.rms(y=y)")


def first_call(runs: int, work: Path) -> int:
    """Median first-call seconds of each feature path in fresh processes (see the module docstring)."""
    import subprocess

    def once(call: str, env: dict[str, str]) -> float:
        out = subprocess.run([sys.executable, "-c", _FIRST_CALL.format(call=call)], env=env, check=True,
                             capture_output=True, text=True)
        return float(out.stdout.strip().splitlines()[-1])

    base = dict(os.environ)
    base["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), base.get("PYTHONPATH", "")])
    once(_LIBROSA_CALL, base)  # fill numba's on-disk cache for the "warm" rows
    rows = {"project (numpy descriptors)": [], "librosa, numba cache warm": [], "librosa, numba cache empty": []}
    for _ in range(runs):
        rows["project (numpy descriptors)"].append(once(_PROJECT_CALL, base))
        rows["librosa, numba cache warm"].append(once(_LIBROSA_CALL, base))
        cold = Path(tempfile.mkdtemp(prefix="numba_", dir=work))
        rows["librosa, numba cache empty"].append(once(_LIBROSA_CALL, {**base, "NUMBA_CACHE_DIR": str(cold)}))
        shutil.rmtree(cold, ignore_errors=True)
    print(f"First feature vector in a fresh process, median of {runs} ({os.cpu_count()} CPU(s)):")
    print("| path | seconds | runs |")
    print("|---|---:|---|")
    for name, vals in rows.items():
        print(f"| {name} | {statistics.median(vals):.2f} | {', '.join(f'{v:.2f}' for v in vals)} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-new", type=int, default=10000, help="new samples to generate (default 10000)")
    parser.add_argument("--minority", type=int, default=200, help="rows of each of the 3 minority classes")
    parser.add_argument("--duration", type=float, default=5.0, help="source length in seconds (default 5)")
    parser.add_argument("--runs", type=int, default=3, help="runs per stage; the median is reported (default 3)")
    parser.add_argument("--num-proc", type=int, default=1, help="dime_aug's feature processes (default 1)")
    parser.add_argument("--work", type=Path, default=Path("bench/_work/augment"), help="scratch folder")
    parser.add_argument("--first-call", action="store_true",
                        help="time the first feature vector of a fresh process instead (numpy vs librosa/numba)")
    args = parser.parse_args(argv)
    if args.first_call:
        args.work.mkdir(parents=True, exist_ok=True)
        return first_call(args.runs, args.work)

    per_class = -(-args.n_new // 3)
    n_majority = args.minority + per_class
    args.work.mkdir(parents=True, exist_ok=True)
    cache = Path(tempfile.mkdtemp(prefix="hf_cache_", dir=args.work))
    os.environ["HF_DATASETS_CACHE"] = str(cache)
    import datasets

    datasets.config.HF_DATASETS_CACHE = cache
    from hf_ambiguity.augment.dime_features import audio_features

    audio_features(np.ones(4096, dtype=np.float32))  # first call (imports) outside the timings
    try:
        ds = make_sources(n_majority, args.minority, args.duration)
        print(f"sources: {len(ds)} rows x {args.duration:g} s ({n_majority} majority, 3 x {args.minority} minority); "
              f"ratio 1.0 asks for {3 * per_class} new rows; {args.runs} run(s); dime_aug num_proc {args.num_proc}; "
              f"{os.cpu_count()} CPU(s)",
              flush=True)
        sources = ds.select(range(n_majority, len(ds)))  # the minority classes: the only rows dime_aug decodes
        stages: dict[str, list[float]] = {"dime_aug": [], "features": [], "floor": []}
        n_generated = 0
        for run in range(args.runs):
            t, n_generated = time_dime(ds, seed=run, num_proc=args.num_proc)
            stages["dime_aug"].append(t)
            stages["features"].append(time_features(sources))
            stages["floor"].append(time_floor(sources, n_generated))
            print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in stages.items()), flush=True)
        med = {k: statistics.median(v) for k, v in stages.items()}
        print(f"\n{n_generated} new samples from {len(ds)} sources of {args.duration:g} s, median of {args.runs}:")
        print("| stage | seconds | new samples/s | x floor time |")
        print("|---|---:|---:|---:|")
        for k, v in med.items():
            print(f"| {k} | {v:.1f} | {n_generated / v:.0f} | {v / med['floor']:.2f} |")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
