"""Benchmark: IEMOCAP-layout corpus → parsed rows → built dataset + Hub export, against a plain pyarrow floor.

    .venv/bin/python bench/build.py [--n 10000] [--runs 3] [--duration 1.0] [--work bench/_work]

Writes an ``--n``-utterance corpus in the IEMOCAP layout (``--duration`` s clips, 3 to 5 evaluators each, written
with :func:`hf_ambiguity.demo.write_iemocap_layout`; reused when already there) and times, median of ``--runs``:

- parse: ``read_iemocap`` (evaluation files, transcripts, an audio check of every wav);
- build + export: ``build_dataset`` into a fresh cache (parse, audio bytes embedded, Arrow written) plus
  ``export_to_hub_layout`` (parquet shards + card);
- floor: what any exporter has to do with the parsed rows: read every wav's bytes, make one pyarrow table of the
  same columns and write it with ``pyarrow.parquet.write_table``.

Prints utterances/s and each stage's time as a ratio to the floor, side by side from one run of this script. A second
table times the parts of reading that grew with issue 15, per file: the audio check (libsndfile open + frame count +
a 64-frame read, :func:`hf_ambiguity.corpora.audio_check.audio_problem`) against the 12-byte header read it
replaced, and the corpus fingerprint (label and transcript files hashed by content, wavs by size and mtime).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hf_ambiguity.builders import build_dataset, corpus_fingerprint
from hf_ambiguity.corpora import read_iemocap
from hf_ambiguity.corpora.audio_check import audio_problem
from hf_ambiguity.demo import Evaluation, IemocapTurn, write_iemocap_layout
from hf_ambiguity.hub import export_to_hub_layout

_LABELS = ("Neutral", "Happiness", "Excited", "Anger", "Sadness", "Frustration", "Surprise", "Other")
_CODES = {"Neutral": "neu", "Happiness": "hap", "Excited": "exc", "Anger": "ang", "Sadness": "sad",
          "Frustration": "fru", "Surprise": "sur", "Other": "oth"}


def make_turns(n: int, *, duration: float, seed: int = 0) -> list[IemocapTurn]:
    """``n`` turns over sessions 1..5, 50 turns per dialog, 3 to 5 disagreeing evaluators each."""
    rng = np.random.default_rng(seed)
    turns = []
    for i in range(n):
        session = i % 5 + 1
        dialog = f"Ses{session:02d}F_impro{(i // 5) // 50:02d}"
        speaker = "F" if (i // 5) % 2 == 0 else "M"
        utt = f"{dialog}_{speaker}{(i // 5) % 50:03d}"
        main = _LABELS[rng.integers(0, 5)]
        evals = []
        for k in range(int(rng.integers(3, 6))):
            if rng.random() < 0.65:
                labels: tuple[str, ...] = (main,)
            else:
                labels = tuple(dict.fromkeys(_LABELS[j] for j in rng.integers(0, len(_LABELS), rng.integers(1, 3))))
            evals.append(Evaluation(f"E{k + 1}", labels, "sarcastic" if "Other" in labels else ""))
        turns.append(IemocapTurn(utt, _CODES[main], tuple(evals), duration=duration, transcript=f"turn {i}"))
    return turns


def ensure_corpus(work: Path, n: int, duration: float) -> Path:
    """Write the corpus once per (n, duration); a marker file records what is there."""
    root = work / "corpus" / "IEMOCAP_full_release"
    marker = work / "corpus" / "DONE"
    want = f"n={n} duration={duration}"
    if marker.is_file() and marker.read_text() == want:
        return root
    shutil.rmtree(work / "corpus", ignore_errors=True)
    t = time.perf_counter()
    write_iemocap_layout(root, make_turns(n, duration=duration), quirks=False)
    marker.write_text(want)
    print(f"wrote {n} utterances ({duration} s clips) to {root} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return root


def floor_write(rows: list[dict[str, Any]], path: Path) -> None:
    """Plain pyarrow: wav bytes + the same columns → one parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols: dict[str, Any] = {k: [r[k] for r in rows] for k in rows[0] if k != "audio"}
    audio = pa.StructArray.from_arrays(
        [pa.array([Path(r["audio"]).read_bytes() for r in rows], pa.binary()),
         pa.array([os.path.basename(r["audio"]) for r in rows], pa.string())], names=["bytes", "path"])
    table = pa.table({**{k: pa.array(v) for k, v in cols.items()}, "audio": audio})
    pq.write_table(table, path)


def timed(fn: Callable[[], Any], runs: int, before: Callable[[], None] | None = None) -> list[float]:
    times = []
    for _ in range(runs):
        if before:
            before()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="utterances (default 10000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per stage; the median is reported (default 3)")
    parser.add_argument("--duration", type=float, default=1.0, help="clip length in seconds (default 1.0)")
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "_work", help="scratch folder")
    args = parser.parse_args(argv)
    if args.n < 5 or args.runs < 1:
        parser.error("--n must be >= 5 and --runs >= 1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import datasets

    datasets.disable_progress_bars()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    corpus = ensure_corpus(work, args.n, args.duration)

    result: dict[str, Any] = {}

    def parse() -> None:
        result["rows"] = read_iemocap(corpus, class_set="iemocap-4").rows

    def clean() -> None:
        for sub in ("cache", "export", "floor"):
            shutil.rmtree(work / sub, ignore_errors=True)
        (work / "floor").mkdir()

    sub: dict[str, list[float]] = {"build": [], "export": []}

    def build_export() -> None:
        t0 = time.perf_counter()
        dsdict, report = build_dataset("iemocap", corpus, class_set="iemocap-4", cache_dir=work / "cache",
                                       progress=False)
        t1 = time.perf_counter()
        export_to_hub_layout(dsdict, work / "export", card_info=report.card_info(), progress=False)
        sub["build"].append(t1 - t0)
        sub["export"].append(time.perf_counter() - t1)
        result["built"] = report.num_rows

    t_parse = timed(parse, args.runs)
    n_rows = len(result["rows"])
    t_floor = timed(lambda: floor_write(result["rows"], work / "floor" / "data.parquet"), args.runs, clean)
    t_build = timed(build_export, args.runs, clean)
    assert result["built"] == n_rows, (result["built"], n_rows)

    floor = statistics.median(t_floor)
    print(f"\nIEMOCAP layout, {args.n} utterances written, {n_rows} kept (iemocap-4), {args.duration} s clips; "
          f"median of {args.runs} runs\n")
    print(f"| stage | median s | utterances/s | time / floor | runs (s) |\n|---|---:|---:|---:|---|")
    for name, ts in (("parse (read_iemocap)", t_parse), ("build + export", t_build),
                     ("  of which build_dataset", sub["build"]), ("  of which export_to_hub_layout", sub["export"]),
                     ("floor (pyarrow parquet write)", t_floor)):
        med = statistics.median(ts)
        print(f"| {name} | {med:.2f} | {n_rows / med:,.0f} | {med / floor:.2f}x | "
              f"{', '.join(f'{t:.2f}' for t in ts)} |")
    wavs = [r["audio"] for r in result["rows"]]

    def header_check() -> None:
        for path in wavs:
            with open(path, "rb") as fh:
                fh.read(12)

    def decode_check() -> None:
        assert all(audio_problem(path) is None for path in wavs)

    t_header = timed(header_check, args.runs)
    t_decode = timed(decode_check, args.runs)
    t_fp = timed(lambda: corpus_fingerprint("iemocap", corpus), args.runs)
    parse = statistics.median(t_parse)
    print(f"\nper-file costs, {len(wavs)} wavs; median of {args.runs} runs\n")
    print("| part of reading | median s | ms / file | share of parse |\n|---|---:|---:|---:|")
    for name, ts in (("12-byte header read (the old check)", t_header),
                     ("audio check: open + frames + 64-frame decode", t_decode),
                     ("corpus fingerprint (text by content, audio by stat)", t_fp)):
        med = statistics.median(ts)
        print(f"| {name} | {med:.2f} | {1000 * med / len(wavs):.3f} | {med / parse:.0%} |")
    clean()
    shutil.rmtree(work / "floor", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
