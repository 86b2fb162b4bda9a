"""The annotation engine: N simulated annotators (``sample``) or one scoring pass (``score``) over a dataset.

:func:`annotate` adds ``<name>_labels``, ``<name>_raw``, ``<name>_votes``, ``<name>_dist`` and ``<name>_invalid``
(class order from :func:`hf_ambiguity.schema.class_names`), records provenance on the dataset, and returns an
:class:`AnnotateReport`. Merging with the human votes is :func:`hf_ambiguity.annotate.merge.merge_dataset`.

Columns per mode:

- ``sample``: ``_raw`` = every annotator's answer text (annotator order), ``_labels`` = the parsed class names of the
  valid answers, ``_votes`` = their counts, ``_dist`` = votes / total (all zeros when no answer parsed; such rows are
  counted in the report), ``_invalid`` = number of answers that named no class.
- ``score``: ``_dist`` = softmax over the class set of the class log-probabilities, ``_votes`` = ``_dist * N``
  (expected counts of N annotators, so the reference merge weighs the proxy like N labels), ``_labels`` and ``_raw``
  empty, ``_invalid`` = 0.

Resumable: with ``cache_dir`` every finished request is stored (:class:`~hf_ambiguity.annotate.store.ResultStore`)
keyed by (utterance id, annotator index) within a run key (model identity, prompt hash, mode, seed, class names); a
rerun redoes only what is missing, and a run with more annotators only asks the new ones. Ids must be unique across
everything annotated with one cache (splits of one corpus are fine). ``shard=(index, count)`` annotates one contiguous shard (one
process of an Accelerate launch) and, with ``assemble=False``, only fills the store.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np

from hf_ambiguity.alm.base import AnnotationBackendError, Annotator, Item, Request
from hf_ambiguity.alm.parsing import parse_answer
from hf_ambiguity.alm.prompts import annotator_specs, prompt_hash
from hf_ambiguity.annotate.store import ResultStore, run_key_hash
from hf_ambiguity.labels import CORPORA
from hf_ambiguity.provenance import attach_provenance, library_versions
from hf_ambiguity.schema import class_names as dataset_class_names

__all__ = ["annotate", "AnnotateReport", "MODES", "REFERENCE_N_ANNOTATORS", "default_n_annotators",
           "null_rows_without_synthetic_label"]

MODES = ("sample", "score")

#: The reference protocol's number of synthetic annotators per corpus (the ``corpus`` column's value).
REFERENCE_N_ANNOTATORS: dict[str, int] = {name: spec.reference_n_annotators for name, spec in CORPORA.items()}
_FALLBACK_N_ANNOTATORS = 8


def default_n_annotators(dataset: Any) -> int:
    """The reference N for ``dataset``: 8 for IEMOCAP, 10 for MSP-Podcast (from its ``corpus`` column); 8 when the
    column is missing or names another or several corpora.

    >>> from datasets import Dataset
    >>> default_n_annotators(Dataset.from_dict({"corpus": ["msp-podcast"] * 2}))
    10
    >>> default_n_annotators(Dataset.from_dict({"corpus": ["iemocap"]}))
    8
    """
    if "corpus" not in getattr(dataset, "column_names", ()):
        return _FALLBACK_N_ANNOTATORS
    corpora = set(dataset.unique("corpus"))
    if len(corpora) == 1:
        return REFERENCE_N_ANNOTATORS.get(str(next(iter(corpora))), _FALLBACK_N_ANNOTATORS)
    return _FALLBACK_N_ANNOTATORS


@dataclass(frozen=True)
class AnnotateReport:
    """What one :func:`annotate` call did. Counts are over the rows it covered (the shard, if any)."""

    name: str
    mode: str
    n_items: int
    n_annotators: int
    n_new_results: int
    n_cached_results: int
    n_invalid_answers: int
    n_items_without_valid_label: int
    elapsed_s: float
    utterances_per_s: float
    run_key: str
    provenance: dict[str, Any] = field(repr=False)
    n_corrupt_cache_records: int = 0  # complete but unreadable cache lines: ignored, their requests redone


def _check_ids(ids: Sequence[str]) -> None:
    seen: set[str] = set()
    for i, x in enumerate(ids):
        if x in seen:
            raise ValueError(f"row {i}: id {x!r} occurs twice; annotation results are keyed by id, so ids must be "
                             "unique (deduplicate the dataset first)")
        seen.add(x)


def _items(dataset: Any, rows: Sequence[int], classes: tuple[str, ...]) -> list[Item]:
    """The rows' utterances, audio decoded to mono 16 kHz float32.

    An ``Audio`` column is read undecoded and decoded by :func:`hf_ambiguity.audio.decode_audio`
    (libsndfile for WAV/FLAC/OGG/MP3, torchcodec otherwise): creating one torchcodec decoder per clip costs about
    as much as the tiny model's whole forward pass, and the score mode pays it once per utterance.
    """
    from datasets import Audio

    from hf_ambiguity.audio import waveform

    sub = dataset.select(rows)
    undecoded = isinstance(sub.features.get("audio"), Audio)
    if undecoded:
        sub = sub.cast_column("audio", Audio(decode=False))
    out = []
    for r, row in zip(rows, sub):
        audio, sr = waveform(row["audio"])
        if audio.size == 0:
            raise ValueError(f"row {r} (id {row['id']!r}): empty audio; drop or fix the clip")
        out.append(Item(str(row["id"]), audio, sr, str(row.get("transcript") or ""), str(row.get("speaker") or ""),
                        classes))
    return out


def annotate(dataset: Any, annotator: Annotator, *, name: str = "synthetic",
             mode: Literal["sample", "score"] = "sample", n_annotators: int | None = None, seed: int = 0,
             batch_size: int = 8, cache_dir: str | None = None, progress: bool = True,
             shard: tuple[int, int] | None = None, assemble: bool = True):
    """Annotate ``dataset`` (a ``datasets.Dataset`` with the schema columns) with ``annotator``.

    Returns ``(dataset with the <name>_* columns, AnnotateReport)`` — or ``(None, report)`` with ``assemble=False``;
    with ``shard`` the returned dataset holds the shard's rows only. A backend failure
    (:class:`~hf_ambiguity.alm.base.AnnotationBackendError`) stops the run after storing every answer that arrived.
    ``batch_size`` counts requests (utterance x annotator) in ``sample`` mode and utterances in ``score`` mode.
    ``n_annotators=None`` takes the reference N of the dataset's corpus (:func:`default_n_annotators`: 8 IEMOCAP,
    10 MSP-Podcast).
    """
    from hf_ambiguity.progress import progress_bar as tqdm

    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    if mode == "score" and not getattr(annotator, "supports_score", False):
        raise ValueError(f"backend {annotator.identity!r} cannot score classes; use mode='sample' or a local model")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    classes = tuple(dataset_class_names(dataset))
    if n_annotators is None:
        n_annotators = default_n_annotators(dataset)
    specs = annotator_specs(n_annotators, seed=seed)
    ids = [str(x) for x in dataset["id"]]
    _check_ids(ids)
    # annotator i's focus and temperature are fixed by (seed, i) and the prompt hash, so a larger N reuses the
    # answers of annotators 0..N-1 of an earlier run
    run_key = {"model": annotator.identity, "prompt_hash": prompt_hash(), "mode": mode, "seed": seed,
               "classes": list(classes)}
    tmp = None
    if cache_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="hf-ambiguity-annotate-")
        cache_dir = tmp.name
    rank = shard[0] if shard else 0
    store = ResultStore(cache_dir, run_key, rank=rank)
    try:
        rows = list(range(len(ids)))
        if shard is not None:
            index, count = shard
            if not (count >= 1 and 0 <= index < count):
                raise ValueError(f"shard must be (index, count) with 0 <= index < count, got {shard}")
            bounds = np.linspace(0, len(rows), count + 1).astype(int)
            rows = rows[bounds[index]:bounds[index + 1]]
        annot = [s.index for s in specs] if mode == "sample" else [-1]
        missing = [(r, a) for r in rows for a in annot if (ids[r], a) not in store]
        n_cached = len(rows) * len(annot) - len(missing)
        pending_per_row: dict[int, int] = {}
        for r, _ in missing:
            pending_per_row[r] = pending_per_row.get(r, 0) + 1
        start = time.perf_counter()
        n_new = 0
        bar = tqdm(total=len(rows), initial=len(rows) - len(pending_per_row), unit="utt",
                   desc=f"annotate[{mode}]" + (f" shard {rank}" if shard else ""), disable=not progress)
        with bar:
            for b in range(0, len(missing), batch_size):
                chunk = missing[b:b + batch_size]
                chunk_rows = list(dict.fromkeys(r for r, _ in chunk))
                items = dict(zip(chunk_rows, _items(dataset, chunk_rows, classes)))
                if mode == "sample":
                    try:
                        answers = annotator.annotate_batch([Request(items[r], specs[a], seed) for r, a in chunk])
                    except AnnotationBackendError as err:  # keep what did arrive, then stop (resumable)
                        store.append((ids[chunk[i][0]], chunk[i][1], str(ans)) for i, ans in err.partial.items())
                        raise
                    if len(answers) != len(chunk):
                        raise RuntimeError(f"backend returned {len(answers)} answers for {len(chunk)} requests")
                    n_new += store.append((ids[r], a, str(ans)) for (r, a), ans in zip(chunk, answers))
                else:
                    scores = np.asarray(annotator.score_batch([items[r] for r in chunk_rows]), dtype=np.float64)
                    if scores.shape != (len(chunk_rows), len(classes)):
                        raise RuntimeError(f"backend scores have shape {scores.shape}, expected "
                                           f"{(len(chunk_rows), len(classes))}")
                    n_new += store.append((ids[r], -1, [float(x) for x in s]) for r, s in zip(chunk_rows, scores))
                done = 0
                for r, _ in chunk:
                    pending_per_row[r] -= 1
                    done += pending_per_row[r] == 0
                bar.update(done)
        elapsed = time.perf_counter() - start
        provenance = {
            "backend": annotator.provenance(), "identity": annotator.identity, "prompt_hash": run_key["prompt_hash"],
            "mode": mode, "n_annotators": n_annotators, "seed": seed, "class_names": list(classes),
            "temperatures": [s.temperature for s in specs] if mode == "sample" else None,
            "foci": [s.focus_index for s in specs] if mode == "sample" else None,
            "run_key": run_key_hash(run_key), "libraries": library_versions(),
        }
        votes, dist, labels, raw, invalid = _columns(store, [ids[r] for r in rows], specs, classes, mode, n_annotators)
        empty = int((votes.sum(axis=1) == 0).sum())
        report = AnnotateReport(name, mode, len(rows), n_annotators, n_new, n_cached, int(sum(invalid)), empty,
                                elapsed, (len(pending_per_row) / elapsed) if elapsed > 0 else 0.0,
                                run_key_hash(run_key), provenance, store.n_corrupt)
        if not assemble:
            return None, report
        target = dataset if shard is None else dataset.select(rows)  # a shard's rows only
        return _add_columns(target, name, votes, dist, labels, raw, invalid, provenance), report
    finally:
        if tmp is not None:
            tmp.cleanup()


def _columns(store: ResultStore, ids: Sequence[str], specs, classes: tuple[str, ...], mode: str, n: int):
    from hf_ambiguity.alm.scoring import scores_to_distribution

    k = len(classes)
    votes = np.zeros((len(ids), k))
    labels: list[list[str]] = []
    raw: list[list[str]] = []
    invalid: list[int] = []
    if mode == "score":
        logp = np.array([store.get((i, -1)) for i in ids], dtype=np.float64).reshape(len(ids), k)
        dist = scores_to_distribution(logp) if len(ids) else np.zeros((0, k))
        return dist * n, dist, [[] for _ in ids], [[] for _ in ids], [0] * len(ids)
    for row, item_id in enumerate(ids):
        answers = [store.get((item_id, s.index)) for s in specs]
        parsed = [parse_answer(a, classes) for a in answers]
        kept = [p for p in parsed if p is not None]
        for p in kept:
            votes[row, classes.index(p)] += 1
        labels.append(kept)
        raw.append(answers)
        invalid.append(len(parsed) - len(kept))
    total = votes.sum(axis=1, keepdims=True)
    dist = np.divide(votes, total, out=np.zeros_like(votes), where=total > 0)
    return votes, dist, labels, raw, invalid


def _add_columns(dataset: Any, name: str, votes, dist, labels, raw, invalid, provenance):
    from datasets import List, Value

    cols = {
        f"{name}_labels": (labels, List(Value("string"))),
        f"{name}_raw": (raw, List(Value("string"))),
        f"{name}_votes": (votes.tolist(), List(Value("float64"))),
        f"{name}_dist": (dist.tolist(), List(Value("float64"))),
        f"{name}_invalid": (list(invalid), Value("int32")),
    }
    present = [c for c in cols if c in dataset.column_names]
    if present:
        dataset = dataset.remove_columns(present)
    for col, (values, feature) in cols.items():
        dataset = dataset.add_column(col, values, feature=feature)
    return attach_provenance(dataset, name, provenance)


def null_rows_without_synthetic_label(dsdict: Any, column: str) -> tuple[Any, int]:
    """``(dsdict, n)``: sample mode leaves an all-zero ``<name>_dist`` where no synthetic answer parsed; such a row has no synthetic
    distribution, so it becomes null (DiME-Aug mixes it to null, training on that target skips it)."""
    if column not in next(iter(dsdict.values())).column_names:
        return dsdict, 0
    n = sum(int(sum(1 for v in ds[column] if v is None or sum(v) == 0)) for ds in dsdict.values())
    if n == 0:
        return dsdict, 0

    def nullify(batch: dict[str, list]) -> dict[str, list]:
        return {column: [None if v is None or sum(v) == 0 else v for v in batch[column]]}

    return type(dsdict)({k: v.map(nullify, batched=True, features=v.features) for k, v in dsdict.items()}), n
