"""Per-stage timings of ``hf-ambiguity run`` on the bundled demo at several corpus sizes (CPU, tiny model).

    .venv/bin/python bench/pipeline.py [--sizes 48 240] [--repeats 1] [--max-steps 2]

Each run starts from an empty run folder (every stage runs). Prints, per size, the median seconds of each stage
over the repeats and a *linear extrapolation* to 1,000 utterances (the ``01_build`` figure includes generating the
demo audio with espeak-ng; ``00_model`` is a one-off; ``06_train`` runs a fixed number of steps, so its figure is
given per 1,000 training samples from the trainer's own samples/s). The numbers describe the pipeline with the
tiny random-weight model, not a 7B model.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

from hf_ambiguity.pipeline import STAGE_FOLDERS, load_config, run_pipeline


def one_run(size: int, max_steps: int, workdir: Path) -> dict[str, float]:
    cfg = load_config("demo")
    cfg = replace(cfg, corpus=replace(cfg.corpus, demo_utterances=size),
                  train=replace(cfg.train, max_steps=max_steps))
    outcome = run_pipeline(cfg, run_dir=workdir / f"run-{size}")
    times = {r.folder.name: r.seconds for r in outcome.results.values()}
    stats = json.loads((workdir / f"run-{size}" / "01_build" / "corpus_stats.json").read_text())
    times["utterances"] = stats["n_utterances"]
    train_info = json.loads((workdir / f"run-{size}" / "06_train" / "run_info.json").read_text())
    sps = [v["samples_per_second"] for v in train_info.values() if v.get("samples_per_second")]
    times["train_samples_per_second"] = statistics.median(sps) if sps else float("nan")
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[48, 240])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=2)
    args = ap.parse_args()
    for size in args.sizes:
        runs = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix="hf-ambiguity-bench-") as tmp:
                runs.append(one_run(size, args.max_steps, Path(tmp)))
        n = runs[0]["utterances"]
        print(f"\n## demo with {n} utterances (median of {args.repeats} run(s))\n")
        print("| stage | seconds | extrapolated per 1,000 utterances |")
        print("|---|---:|---:|")
        total = 0.0
        for folder in STAGE_FOLDERS.values():
            vals = [r[folder] for r in runs if folder in r]
            if not vals:
                continue
            sec = statistics.median(vals)
            total += sec
            per_k = "one-off" if folder == "00_model" else (
                f"{1000 / statistics.median(r['train_samples_per_second'] for r in runs):.0f} s per 1,000 "
                "training samples" if folder == "06_train" else f"{sec / n * 1000:.0f} s")
            print(f"| {folder} | {sec:.1f} | {per_k} |")
        print(f"| total | {total:.1f} | |")


if __name__ == "__main__":
    main()
